/**
 * A libp2p WebSockets transport whose listener shares the relay's HTTP server (one port serves
 * the app, the HTTP API and libp2p).
 *
 * @libp2p/websockets 10 cannot take an existing http.Server: its listener always binds its own
 * socket (WebSocketsInit only accepts http.ServerOptions; checked in 10.1.21). So this transport
 * dials with the stock transport and listens by taking the HTTP server's `upgrade` requests for
 * `/` itself: a `ws` WebSocketServer in `noServer` mode completes the handshake, and the socket is
 * wrapped as a MultiaddrConnection (the same shape as @libp2p/websockets' own) and handed to the
 * upgrader, which applies the connection manager's limits and the connection gater as usual. The
 * remote address is the real one, so per-host limits keep working.
 */

import type { IncomingMessage, Server } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo, Socket } from 'node:net'
import {
  type ComponentLogger,
  type Connection,
  type CreateListenerOptions,
  type DialTransportOptions,
  type Listener,
  type ListenerEvents,
  type Logger,
  serviceCapabilities,
  type Transport,
  TypedEventEmitter,
  transportSymbol,
  type Upgrader,
} from '@libp2p/interface'
import {
  AbstractMultiaddrConnection,
  getNetConfig,
  getThinWaistAddresses,
  ipPortToMultiaddr,
  type SendResult,
} from '@libp2p/utils'
import { type WebSocketsComponents, webSockets } from '@libp2p/websockets'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { Uint8ArrayList } from 'uint8arraylist'

/** The parts of the `ws` package used here (the copy @libp2p/websockets depends on). */
interface WsSocket {
  binaryType: string
  bufferedAmount: number
  send(data: Uint8Array): void
  close(code?: number): void
  terminate(): void
  addEventListener(
    type: 'close',
    listener: (evt: { code: number; reason: string; wasClean: boolean }) => void,
    options?: { once?: boolean },
  ): void
  addEventListener(type: 'message', listener: (evt: { data: unknown }) => void): void
}
interface WsServer {
  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, cb: (ws: WsSocket) => void): void
  close(): void
}
type WsServerCtor = new (options: { noServer: true; maxPayload?: number }) => WsServer

const requireFromWebsockets = createRequire(import.meta.resolve('@libp2p/websockets'))
const { WebSocketServer } = requireFromWebsockets('ws') as { WebSocketServer: WsServerCtor }

const MAX_BUFFERED_AMOUNT = 4 * 1024 * 1024

/** A `ws` socket as a libp2p MultiaddrConnection (exported for its tests). */
export class WsConnection extends AbstractMultiaddrConnection {
  private readonly ws: WsSocket
  private drainTimer: ReturnType<typeof setInterval> | undefined

  constructor(init: { ws: WsSocket; remoteAddr: Multiaddr; log: Logger }) {
    super({ remoteAddr: init.remoteAddr, direction: 'inbound', log: init.log })
    this.ws = init.ws
    this.ws.addEventListener(
      'close',
      (evt) => {
        this.stopDrainTimer()
        if (!evt.wasClean) this.onRemoteReset()
        else this.onTransportClosed()
      },
      { once: true },
    )
    this.ws.addEventListener('message', (evt) => {
      const data = evt.data
      if (data instanceof ArrayBuffer) this.onData(new Uint8Array(data))
      else this.abort(new Error('expected a binary WebSocket message'))
    })
  }

  /**
   * Bytes written during this turn of the event loop, sent as one WebSocket message when it ends.
   * libp2p sees the connection as a byte stream, so message boundaries carry nothing; a noise
   * message (length prefix and ciphertext) per yamux frame was two WebSocket messages and two
   * socket writes each, and live consensus traffic is many small frames: writev was a fifth of
   * the relay's main thread with four tabs at half load.
   */
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  private flushQueued = false

  sendData(data: Uint8ArrayList): SendResult {
    for (const buf of data) this.pending.push(buf)
    this.pendingBytes += data.byteLength
    if (!this.flushQueued) {
      this.flushQueued = true
      setImmediate(() => this.flush())
    }
    const canSendMore = this.ws.bufferedAmount + this.pendingBytes < MAX_BUFFERED_AMOUNT
    if (!canSendMore && !this.drainTimer)
      this.drainTimer = setInterval(() => {
        if (this.ws.bufferedAmount === 0) {
          this.stopDrainTimer()
          this.safeDispatchEvent('drain')
        }
      }, 10)
    return { sentBytes: data.byteLength, canSendMore }
  }

  private flush(): void {
    this.flushQueued = false
    if (this.pending.length === 0) return
    const bufs = this.pending
    this.pending = []
    this.pendingBytes = 0
    this.ws.send(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs))
  }

  private stopDrainTimer(): void {
    if (this.drainTimer) clearInterval(this.drainTimer)
    this.drainTimer = undefined
  }

  sendReset(): void {
    this.ws.terminate()
  }

  async sendClose(): Promise<void> {
    this.flush()
    this.ws.close()
  }

  sendPause(): void {
    // WebSockets have no read backpressure here; yamux's windows apply above.
  }

  sendResume(): void {}
}

interface SharedListenerInit {
  readonly server: Server
  readonly upgrader: Upgrader
  readonly logger: ComponentLogger
  /** Only upgrade requests for this path are libp2p's (the dialer asks for `/`). */
  readonly path: string
}

class SharedPortListener extends TypedEventEmitter<ListenerEvents> implements Listener {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 })
  private readonly sockets = new Set<WsSocket>()
  private readonly shutdown = new AbortController()
  private readonly log: Logger
  private listening: Multiaddr | undefined
  private port = 0
  private readonly onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path !== this.init.path || req.headers.upgrade?.toLowerCase() !== 'websocket') {
      // Not ours; nothing else on this server upgrades, so refuse it plainly.
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onWebSocket(ws, req))
  }

  constructor(private readonly init: SharedListenerInit) {
    super()
    this.log = init.logger.forComponent('blockfin:relay:ws-listener')
  }

  private onWebSocket(ws: WsSocket, req: IncomingMessage): void {
    ws.binaryType = 'arraybuffer'
    this.sockets.add(ws)
    ws.addEventListener('close', () => this.sockets.delete(ws), { once: true })
    const remoteAddr = ipPortToMultiaddr(
      req.socket.remoteAddress ?? '0.0.0.0',
      req.socket.remotePort ?? 0,
    ).encapsulate('/ws')
    const maConn = new WsConnection({
      ws,
      remoteAddr,
      log: this.init.logger.forComponent('blockfin:relay:ws-connection'),
    })
    this.init.upgrader.upgradeInbound(maConn, { signal: this.shutdown.signal }).catch((e: unknown) => {
      this.log.error('inbound connection from %s failed to upgrade - %e', remoteAddr, e)
      maConn.abort(e as Error)
    })
  }

  async listen(ma: Multiaddr): Promise<void> {
    const address = this.init.server.address() as AddressInfo | null
    if (!address || typeof address === 'string')
      throw new Error('the HTTP server is not listening on a TCP port')
    const config = getNetConfig(ma)
    if (config.port !== address.port)
      throw new Error(`listen address ${ma.toString()} does not match the HTTP server's port ${address.port}`)
    this.port = address.port
    this.listening = multiaddr(`/${config.type}/${config.host}/tcp/${address.port}`)
    this.init.server.on('upgrade', this.onUpgrade)
    this.safeDispatchEvent('listening')
  }

  getAddrs(): Multiaddr[] {
    if (!this.listening) return []
    return getThinWaistAddresses(this.listening, this.port).map((a) => a.encapsulate('/ws'))
  }

  updateAnnounceAddrs(): void {}

  async close(): Promise<void> {
    this.init.server.off('upgrade', this.onUpgrade)
    this.shutdown.abort()
    for (const ws of this.sockets) ws.terminate()
    this.sockets.clear()
    this.wss.close()
    this.listening = undefined
    this.safeDispatchEvent('close')
  }
}

export interface SharedPortWebSocketsInit {
  readonly server: Server
  /** Path of libp2p's upgrade requests (default `/`, which is what @libp2p/websockets dials). */
  readonly path?: string
}

const isPlainWs = (ma: Multiaddr): boolean => {
  const parts = ma.getComponents()
  return (
    parts.length === 3 &&
    (parts[0]!.name === 'ip4' || parts[0]!.name === 'ip6') &&
    parts[1]!.name === 'tcp' &&
    parts[2]!.name === 'ws'
  )
}

class SharedPortWebSockets implements Transport {
  readonly [transportSymbol] = true
  readonly [Symbol.toStringTag] = '@blockfin/shared-port-websockets'
  readonly [serviceCapabilities]: string[] = ['@libp2p/transport']
  private readonly dialer: Transport

  constructor(
    private readonly components: WebSocketsComponents,
    private readonly init: SharedPortWebSocketsInit,
  ) {
    this.dialer = webSockets()(components)
  }

  dial(ma: Multiaddr, options: DialTransportOptions): Promise<Connection> {
    return this.dialer.dial(ma, options)
  }

  createListener(options: CreateListenerOptions): Listener {
    return new SharedPortListener({
      server: this.init.server,
      upgrader: options.upgrader,
      logger: this.components.logger,
      path: this.init.path ?? '/',
    })
  }

  listenFilter(multiaddrs: Multiaddr[]): Multiaddr[] {
    return multiaddrs.filter(isPlainWs)
  }

  dialFilter(multiaddrs: Multiaddr[]): Multiaddr[] {
    return this.dialer.dialFilter(multiaddrs)
  }
}

/** WebSockets on the port of an existing (already listening) HTTP server. */
export function sharedPortWebSockets(
  init: SharedPortWebSocketsInit,
): (components: WebSocketsComponents) => Transport {
  return (components) => new SharedPortWebSockets(components, init)
}
