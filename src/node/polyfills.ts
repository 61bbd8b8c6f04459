/**
 * Node 20 gaps that libp2p 3 relies on (shared/STACK-NOTES.md notes 1 and 2). Import this module
 * FIRST in every Node entry point (the relay, the headless validator, Node tests and benchmarks
 * that run libp2p); it is idempotent and does nothing on runtimes that already have both.
 *
 * - `Promise.withResolvers` (ES2024, Node >= 22).
 * - A global `WebSocket` for dialing `/ws` addresses: Node 20 only has one behind
 *   `--experimental-websocket`. We use the `ws` package that @libp2p/websockets itself depends on
 *   (resolved from that package, so we never pick up a different copy).
 */
import { createRequire } from 'node:module'

interface WithResolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

const promiseCtor = Promise as unknown as { withResolvers?: <T>() => WithResolvers<T> }
if (typeof promiseCtor.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>(): WithResolvers<T> {
      let resolve!: WithResolvers<T>['resolve']
      let reject!: WithResolvers<T>['reject']
      const promise = new Promise<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}

const scope = globalThis as { WebSocket?: unknown }
if (typeof scope.WebSocket !== 'function') {
  const requireFromWebsockets = createRequire(import.meta.resolve('@libp2p/websockets'))
  const ws = requireFromWebsockets('ws') as { WebSocket: unknown }
  Object.defineProperty(globalThis, 'WebSocket', { configurable: true, writable: true, value: ws.WebSocket })
}
