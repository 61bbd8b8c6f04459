import { existsSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import createDebug from 'debug'
import sirv from 'sirv'
import { encodeBase64 } from '../../src/core/encoding/base64'
import type { FeedHead } from '../../src/core/feed/message'
import type { FeedId } from '../../src/core/identity/ids'
import type { Role } from '../../src/core/identity/roles'
import type { NetworkInfo } from './data-dir'

const log = createDebug('blockfin:relay:http')

/** What the HTTP API reports; the relay's parts are passed in, so tests can give their own. */
export interface HttpDeps {
  readonly network: NetworkInfo
  readonly relay: { readonly id: FeedId; readonly roles: readonly { role: Role; id: FeedId }[] }
  readonly feeds: { vectorClock(): Map<FeedId, FeedHead> }
  readonly startedAt: Date
}

export interface HttpOptions {
  /** The built app (vite build output); served with an SPA fallback to index.html. */
  readonly distDir: string
}

export type ApiErrorCode = 'NOT_FOUND' | 'METHOD_NOT_ALLOWED' | 'INTERNAL'

/** GET /api/network: everything a browser needs to join the network. */
export interface NetworkResponse {
  id: string
  key: string
  name: string
  genesis: NetworkInfo['genesis']
}

/** GET /api/status. */
export interface StatusResponse {
  network: { id: string; key: string }
  relay: { id: FeedId; roles: { role: Role; id: FeedId }[] }
  feeds: { id: FeedId; sequence: number }[]
  startedAt: string
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** Hashed build output never changes under its name; everything else (sw.js, index.html) must be revalidated. */
function cacheControlFor(pathname: string): string {
  return pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache'
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  })
  res.end(text)
}

function sendError(res: ServerResponse, status: number, code: ApiErrorCode, message: string): void {
  sendJson(res, status, { error: { code, message } })
}

/** The request handler: /api/* as JSON, everything else from the built app. Never throws. */
export function createRequestHandler(options: HttpOptions, deps: HttpDeps): Handler {
  const { network } = deps
  const keyBase64 = encodeBase64(network.key)
  const networkBody: NetworkResponse = {
    id: network.id,
    key: keyBase64,
    name: network.name,
    genesis: network.genesis,
  }
  const api: Record<string, () => unknown> = {
    '/api/network': () => networkBody,
    '/api/status': (): StatusResponse => ({
      network: { id: network.id, key: keyBase64 },
      relay: { id: deps.relay.id, roles: deps.relay.roles.map(({ role, id }) => ({ role, id })) },
      feeds: [...deps.feeds.vectorClock()].map(([id, head]) => ({ id, sequence: head.sequence })),
      startedAt: deps.startedAt.toISOString(),
    }),
  }

  const hasApp = existsSync(join(options.distDir, 'index.html'))
  const statics: Handler = hasApp
    ? sirv(options.distDir, {
        single: true,
        etag: true,
        setHeaders: (res, pathname) => res.setHeader('Cache-Control', cacheControlFor(pathname)),
      })
    : (_req, res) => {
        res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' })
        res.end('The app is not built. Run `npm run build` (or `npm start`, which builds it) and restart.\n')
      }

  return (req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://relay').pathname
    try {
      if (pathname === '/api' || pathname.startsWith('/api/')) {
        const route = api[pathname]
        if (!route) return sendError(res, 404, 'NOT_FOUND', `no API at ${pathname}`)
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.setHeader('Allow', 'GET, HEAD')
          return sendError(res, 405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${pathname}`)
        }
        return sendJson(res, 200, route())
      }
      statics(req, res)
    } catch (e) {
      log('request %s %s failed: %O', req.method, req.url, e)
      if (res.headersSent) res.destroy()
      else sendError(res, 500, 'INTERNAL', 'internal error')
    }
  }
}

export interface RunningHttpServer {
  readonly server: Server
  /** The port actually bound (useful when asked for port 0). */
  readonly port: number
  close(): Promise<void>
}

export async function startHttpServer(
  options: HttpOptions & { readonly host: string; readonly port: number },
  deps: HttpDeps,
): Promise<RunningHttpServer> {
  const server = createServer(createRequestHandler(options, deps))
  server.on('clientError', (_e, socket) => socket.destroy())
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  log('listening on %s:%d', options.host, port)
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()))
        server.closeIdleConnections()
        // Open requests are short (no streaming endpoints yet); don't let a keep-alive tab hold shutdown.
        server.closeAllConnections()
      }),
  }
}
