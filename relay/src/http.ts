import { existsSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import createDebug from 'debug'
import sirv from 'sirv'
import { encodeBase64 } from '../../src/core/encoding/base64'
import type { FeedHead } from '../../src/core/feed/message'
import { type FeedId, isFeedId } from '../../src/core/identity/ids'
import type { Role } from '../../src/core/identity/roles'
import { BLOCKS_PATH, type BlocksApi } from './blocks-api'
import type { NetworkInfo } from './data-dir'
import type { FeedDescription } from './feed-directory'
import type { JoinApi } from './join-api'

const log = createDebug('blockfin:relay:http')

/** What the HTTP API reports; the relay's parts are passed in, so tests can give their own. */
export interface HttpDeps {
  readonly network: NetworkInfo
  readonly relay: { readonly id: FeedId; readonly roles: readonly { role: Role; id: FeedId }[] }
  readonly feeds: {
    vectorClock(): Map<FeedId, FeedHead>
    /** Messages from..to inclusive, exactly as signed (needed by GET /api/feeds/<id>). */
    range?(author: FeedId, from: number, to?: number): Promise<string[]>
  }
  readonly startedAt: Date
  /** Owner and role of each feed (GET /api/feeds); without it every feed is its own owner. */
  readonly directory?: { list(): FeedDescription[] }
  /** Uniform in [0, 1): samples GET /api/peers (the relay passes one built on crypto randomness). */
  readonly random?: () => number
  /** The relay's libp2p side: GET /api/status's p2p part and GET /api/peers. */
  readonly p2p?: {
    status(): Promise<P2pStatus>
    peers(): Promise<PeersResponse>
  }
  /** Prometheus text for GET /metrics. */
  readonly metrics?: { readonly contentType: string; text(): Promise<string> }
  /** Joining and invites: /api/join… and /api/invites… (relay/src/join-api.ts). */
  readonly join?: JoinApi
  /** GET /api/blocks and /api/blocks/<height> (relay/src/blocks-api.ts). */
  readonly blocks?: BlocksApi
  /** The consensus part of GET /api/status (heights, validator set, flags). */
  readonly consensus?: () => Record<string, unknown>
  /** GET /api/accounts: the payments ledger as the relay's validator executed it. */
  readonly accounts?: () => { height: number; accounts: Record<string, { balance: number; nonce: number }> }
  /** The default invite link as seen from the request's origin. */
  readonly invite?: (origin: string) => string | undefined
}

export interface HttpOptions {
  /** The built app (vite build output); served with an SPA fallback to index.html. */
  readonly distDir: string
}

export type ApiErrorCode =
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'INTERNAL'
  | 'BAD_FEED_ID'
  | 'BAD_SINCE'
  | 'BAD_LIMIT'
  | 'FEED_NOT_FOUND'
  | 'UNAVAILABLE'
  | 'BAD_REQUEST'

/** The most messages one GET /api/feeds/<id> answers (ask again with `since` for more). */
export const MAX_FEED_PAGE = 1000

/** GET /api/network: everything a browser needs to join the network. */
export interface NetworkResponse {
  id: string
  key: string
  name: string
  genesis: NetworkInfo['genesis']
}

/** The relay's libp2p node as GET /api/status shows it. */
export interface P2pStatus {
  peerId: string
  multiaddrs: string[]
  /** Connected peers (validators, other relays). */
  peers: { peerId: string; transports: string[]; reserved: boolean }[]
  /** Feeds replicated: `all` for a relay (it follows every feed it is offered), and the ones held. */
  follows: { all: boolean; feeds: FeedId[] }
  /** Peer relays this relay keeps connected to (BLOCKFIN_PEER_RELAYS). */
  peerRelays: { target: string; state: string }[]
}

/** GET /api/status. */
export interface StatusResponse {
  network: { id: string; key: string }
  relay: { id: FeedId; roles: { role: Role; id: FeedId }[] }
  feeds: { id: FeedId; sequence: number }[]
  startedAt: string
  p2p?: P2pStatus
  /** Heights reached per stage, the active validator set, Messagenodes flagged (with evidence). */
  consensus?: Record<string, unknown>
  /** The invite link participants join with (relays holding the admin key). */
  invite?: string
}

/** GET /api/peers: peers holding a circuit reservation here, with their WebRTC addresses. */
export interface PeersResponse {
  peers: { peerId: string; addrs: string[] }[]
  /** How many peers hold a reservation; `peers` is a random sample of at most `limit` of them. */
  total?: number
}

/** GET /api/peers answers at most this many peers unless `limit` asks for fewer (or up to MAX_PEERS_PAGE). */
export const DEFAULT_PEERS_PAGE = 64
export const MAX_PEERS_PAGE = 256

/**
 * A uniform random sample of `limit` entries (partial Fisher-Yates), so a thousand tabs asking for
 * peers to dial each get a different few dozen instead of everyone's list every time.
 */
export function samplePeers<T>(all: readonly T[], limit: number, random: () => number): T[] {
  const pool = [...all]
  const n = Math.min(limit, pool.length)
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(random() * (pool.length - i))
    const t = pool[i]!
    pool[i] = pool[j]!
    pool[j] = t
  }
  return pool.slice(0, n)
}

/** GET /api/feeds. */
export interface FeedsResponse {
  feeds: FeedDescription[]
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

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** A non-negative integer query parameter, or undefined when absent. */
function integerParam(
  params: URLSearchParams,
  name: string,
  code: ApiErrorCode,
  max: number,
): number | undefined {
  const text = params.get(name)
  if (text === null) return undefined
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text) || Number(text) > max)
    throw new ApiError(400, code, `${name} must be an integer from 0 to ${max}, not "${text.slice(0, 40)}"`)
  return Number(text)
}

/** A JSON array of stored texts, joined as they are: the bytes each author signed are preserved. */
function sendTexts(res: ServerResponse, texts: readonly string[], headers: Record<string, string>): void {
  const body = `[${texts.join(',')}]`
  res.writeHead(200, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...headers,
  })
  res.end(body)
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
  // The link names the relay as the participant reaches it (the Host header), unless an origin is configured.
  const inviteOf = (req: IncomingMessage): { invite?: string } => {
    const host = req.headers.host
    const link = host && deps.invite ? deps.invite(`http://${host}`) : undefined
    return link ? { invite: link } : {}
  }
  const api: Record<string, (req: IncomingMessage) => unknown> = {
    '/api/network': () => networkBody,
    '/api/status': async (req): Promise<StatusResponse> => ({
      network: { id: network.id, key: keyBase64 },
      relay: { id: deps.relay.id, roles: deps.relay.roles.map(({ role, id }) => ({ role, id })) },
      feeds: [...deps.feeds.vectorClock()].map(([id, head]) => ({ id, sequence: head.sequence })),
      startedAt: deps.startedAt.toISOString(),
      ...(deps.p2p ? { p2p: await deps.p2p.status() } : {}),
      ...(deps.consensus ? { consensus: deps.consensus() } : {}),
      ...inviteOf(req),
    }),
    '/api/accounts': () => {
      if (!deps.accounts)
        throw new ApiError(404, 'NOT_FOUND', 'this relay runs no validator: no ledger to show')
      return deps.accounts()
    },
    '/api/peers': async (req): Promise<PeersResponse> => {
      const params = new URL(req.url ?? '/', 'http://relay').searchParams
      const limit = integerParam(params, 'limit', 'BAD_LIMIT', MAX_PEERS_PAGE) ?? DEFAULT_PEERS_PAGE
      if (limit === 0) throw new ApiError(400, 'BAD_LIMIT', `limit must be from 1 to ${MAX_PEERS_PAGE}`)
      const { peers } = deps.p2p ? await deps.p2p.peers() : { peers: [] }
      return { peers: samplePeers(peers, limit, deps.random ?? Math.random), total: peers.length }
    },
    '/api/feeds': (): FeedsResponse => ({
      feeds: deps.directory
        ? deps.directory.list()
        : [...deps.feeds.vectorClock()].map(([id, head]) => ({
            id,
            owner: id,
            role: null,
            sequence: head.sequence,
          })),
    }),
  }

  /** GET /api/feeds/<url-encoded feed id>?since=<seq>&limit=<n>: messages after `since`. */
  const feedMessages = async (encodedId: string, params: URLSearchParams, res: ServerResponse) => {
    let id: string
    try {
      id = decodeURIComponent(encodedId)
    } catch {
      throw new ApiError(400, 'BAD_FEED_ID', 'the feed id is not valid URL encoding')
    }
    if (!isFeedId(id)) throw new ApiError(400, 'BAD_FEED_ID', `not a feed id: ${id.slice(0, 80)}`)
    const since = integerParam(params, 'since', 'BAD_SINCE', Number.MAX_SAFE_INTEGER) ?? 0
    const limit = integerParam(params, 'limit', 'BAD_LIMIT', MAX_FEED_PAGE) ?? MAX_FEED_PAGE
    if (limit === 0) throw new ApiError(400, 'BAD_LIMIT', `limit must be from 1 to ${MAX_FEED_PAGE}`)
    const head = deps.feeds.vectorClock().get(id)
    if (!head) throw new ApiError(404, 'FEED_NOT_FOUND', `this relay holds no message of ${id}`)
    if (!deps.feeds.range) throw new ApiError(503, 'UNAVAILABLE', 'messages cannot be read here')
    const texts =
      since >= head.sequence
        ? []
        : await deps.feeds.range(id, since + 1, Math.min(head.sequence, since + limit))
    const last = since + texts.length
    sendTexts(res, texts, { 'X-Feed-Sequence': String(head.sequence), 'X-Next-Since': String(last) })
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

  const fail = (req: IncomingMessage, res: ServerResponse, e: unknown) => {
    if (e instanceof ApiError) {
      if (!res.headersSent) sendError(res, e.status, e.code, e.message)
      return
    }
    log('request %s %s failed: %O', req.method, req.url, e)
    if (res.headersSent) res.destroy()
    else sendError(res, 500, 'INTERNAL', 'internal error')
  }

  const serve = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const pathname = url.pathname
    if (deps.join?.handles(pathname)) return deps.join.handle(req, res, url)
    const feedPath = pathname.startsWith('/api/feeds/') ? pathname.slice('/api/feeds/'.length) : undefined
    const route = api[pathname]
    const blocks =
      pathname === BLOCKS_PATH || pathname.startsWith(`${BLOCKS_PATH}/`) ? deps.blocks : undefined
    if (!route && feedPath === undefined && !blocks)
      return sendError(res, 404, 'NOT_FOUND', `no API at ${pathname}`)
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD')
      return sendError(res, 405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${pathname}`)
    }
    if (route) return sendJson(res, 200, await route(req))
    if (blocks) {
      const reply = blocks.handle(pathname, url.searchParams)
      return sendJson(res, reply.status, reply.body)
    }
    return feedMessages(feedPath!, url.searchParams, res)
  }

  const serveMetrics = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!deps.metrics) return sendError(res, 404, 'NOT_FOUND', 'no metrics here')
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD')
      return sendError(res, 405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on /metrics`)
    }
    const text = await deps.metrics.text()
    res.writeHead(200, {
      'Content-Type': deps.metrics.contentType,
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
    })
    res.end(text)
  }

  return (req, res) => {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://relay')
    } catch {
      return sendError(res, 400, 'BAD_REQUEST', 'bad request URL')
    }
    const pathname = url.pathname
    try {
      if (pathname === '/api' || pathname.startsWith('/api/')) {
        serve(req, res, url).catch((e: unknown) => fail(req, res, e))
        return
      }
      if (pathname === '/metrics') {
        serveMetrics(req, res).catch((e: unknown) => fail(req, res, e))
        return
      }
      statics(req, res)
    } catch (e) {
      fail(req, res, e)
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
