/**
 * Keeps one connection to a peer up: dial, wait for the connection to close, dial again, with
 * exponential backoff and jitter between failed attempts. Used for a tab's and a headless
 * validator's relay, and for a relay's peer relays. The target is resolved again on every attempt,
 * so a relay named by its HTTP URL is found again after a restart on other addresses.
 */
import type { AbortOptions, Connection, Libp2pEvents, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import createDebug from 'debug'

const log = createDebug('blockfin:net:keep-connected')

export type KeepConnectedState =
  | { readonly kind: 'connecting'; readonly attempt: number }
  | { readonly kind: 'connected'; readonly connection: Connection }
  | { readonly kind: 'waiting'; readonly attempt: number; readonly retryInMs: number; readonly error: string }
  | { readonly kind: 'stopped' }

export interface KeepConnectedOptions {
  /** A name for logs. */
  readonly name: string
  /** Where to dial, asked again before every attempt. */
  readonly resolve: (options: AbortOptions) => Promise<Multiaddr[]>
  readonly minDelayMs?: number
  readonly maxDelayMs?: number
  readonly dialTimeoutMs?: number
}

export interface KeepConnectedNode extends TypedEventTarget<Libp2pEvents> {
  dial(target: Multiaddr[], options?: AbortOptions): Promise<Connection>
}

export interface KeepConnectedDeps {
  readonly node: KeepConnectedNode
  readonly onState?: (state: KeepConnectedState) => void
  readonly random?: () => number
}

export interface KeepConnected {
  state(): KeepConnectedState
  /** Retry now (e.g. the browser came back online), forgetting the backoff. */
  kick(): void
  stop(): void
}

/** Backoff before attempt `attempt` (1-based), with +-25% jitter. */
export function backoffDelay(attempt: number, min: number, max: number, random: () => number): number {
  const base = Math.min(max, min * 2 ** Math.max(0, attempt - 1))
  return Math.round(base * (0.75 + random() * 0.5))
}

export function keepConnected(options: KeepConnectedOptions, deps: KeepConnectedDeps): KeepConnected {
  const minDelay = options.minDelayMs ?? 500
  const maxDelay = options.maxDelayMs ?? 15_000
  const dialTimeout = options.dialTimeoutMs ?? 10_000
  const random = deps.random ?? Math.random
  const stopController = new AbortController()
  let state: KeepConnectedState = { kind: 'connecting', attempt: 1 }
  let wakeUp: (() => void) | undefined

  const setState = (next: KeepConnectedState) => {
    state = next
    deps.onState?.(next)
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        stopController.signal.removeEventListener('abort', done)
        wakeUp = undefined
        resolve()
      }
      wakeUp = done
      stopController.signal.addEventListener('abort', done)
    })

  const closed = (connection: Connection) =>
    new Promise<void>((resolve) => {
      const onClose = (evt: CustomEvent<Connection>) => {
        if (evt.detail.id === connection.id) done()
      }
      function done() {
        deps.node.removeEventListener('connection:close', onClose)
        stopController.signal.removeEventListener('abort', done)
        resolve()
      }
      deps.node.addEventListener('connection:close', onClose)
      stopController.signal.addEventListener('abort', done)
      if (connection.status !== 'open') done()
    })

  let attempt = 1
  const run = async () => {
    while (!stopController.signal.aborted) {
      setState({ kind: 'connecting', attempt })
      let error: string
      try {
        const signal = AbortSignal.any([stopController.signal, AbortSignal.timeout(dialTimeout)])
        const addrs = await options.resolve({ signal })
        if (addrs.length === 0) throw new Error('no address to dial')
        const connection = await deps.node.dial(addrs, { signal })
        log('%s: connected over %s', options.name, connection.remoteAddr.toString())
        attempt = 1
        setState({ kind: 'connected', connection })
        await closed(connection)
        if (stopController.signal.aborted) break
        log('%s: connection closed', options.name)
        continue
      } catch (e) {
        error = (e as Error).message
      }
      if (stopController.signal.aborted) break
      const retryInMs = backoffDelay(attempt, minDelay, maxDelay, random)
      log('%s: attempt %d failed (%s), retrying in %d ms', options.name, attempt, error, retryInMs)
      setState({ kind: 'waiting', attempt, retryInMs, error })
      attempt++
      await sleep(retryInMs)
    }
    setState({ kind: 'stopped' })
  }
  void run()

  return {
    state: () => state,
    kick() {
      attempt = 1
      wakeUp?.()
    },
    stop() {
      stopController.abort()
    },
  }
}
