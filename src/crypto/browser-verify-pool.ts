/**
 * Ed25519 checks on Web Workers, for the tab. Chromium's WebCrypto verifies Ed25519 on the
 * calling thread: a tab replicating or validating spent a third of its main thread inside
 * `crypto.subtle.verify`. The pool sends the checks to workers (WebCrypto there too) and keeps the
 * main thread for the store, replication and the UI. Every signature is still checked under the
 * pinned rule: the byte rules (1-3) here, the rest by WebCrypto in a worker (docs/protocol.md
 * section 4). Signing stays on the main thread, with the backend given.
 */
import createDebug from 'debug'
import type { Ed25519Backend, VerifyRequest } from '../core/crypto/ed25519'
import { createTaskDispatcher, createVerifyBatcher } from './verify-batcher'
import { packRequests } from './verify-packing'

const log = createDebug('blockfin:verify-pool')

/** Requests per task: large enough to amortise a message, small enough to share the workers. */
const CHUNK = 64
/** A worker that has not said it is ready by then is not used (the backend given is). */
const READY_TIMEOUT_MS = 5000

interface Task {
  readonly id: number
  readonly requests: readonly VerifyRequest[]
  readonly resolve: (answers: ArrayLike<number | boolean>) => void
}

export interface BrowserVerifyPoolOptions {
  /** Workers to start; default `navigator.hardwareConcurrency`, at most 4. */
  readonly threads?: number
}

export interface BrowserVerifyPoolDeps {
  /** Signs, and verifies where no worker could start. */
  readonly backend: Ed25519Backend
  /** Starts one worker running verify-worker.ts (a seam for tests and other bundlers). */
  readonly startWorker?: () => Worker
}

const defaultWorker = () =>
  new Worker(new URL('./verify-worker.ts', import.meta.url), { type: 'module', name: 'blockfin-verify' })

/** The pool, or undefined where no worker starts (then the caller keeps its backend). */
export async function createBrowserVerifyPool(
  options: BrowserVerifyPoolOptions,
  deps: BrowserVerifyPoolDeps,
): Promise<Ed25519Backend | undefined> {
  if (typeof Worker === 'undefined') return undefined
  const threads = Math.max(1, Math.min(4, options.threads ?? globalThis.navigator?.hardwareConcurrency ?? 2))
  const start = deps.startWorker ?? defaultWorker
  const started = await Promise.all(
    Array.from({ length: threads }, async () => {
      let worker: Worker
      try {
        worker = start()
      } catch (e) {
        log('cannot start a verify worker: %s', (e as Error).message)
        return undefined
      }
      const ready = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS)
        worker.onmessage = ({ data }: MessageEvent<{ ready?: boolean }>) => {
          clearTimeout(timer)
          resolve(data.ready === true)
        }
        worker.onerror = () => {
          clearTimeout(timer)
          resolve(false)
        }
      })
      if (!ready) {
        worker.terminate()
        return undefined
      }
      return worker
    }),
  )
  const workers = started.filter((w): w is Worker => w !== undefined)
  if (workers.length === 0) return undefined
  log('%d verify workers', workers.length)

  let nextTask = 0
  const tasks = createTaskDispatcher<Worker, Task>(workers, (w, task) => {
    const buf = packRequests(task.requests)
    w.postMessage({ task: task.id, buf }, [buf])
  })
  // What a failed worker held, or everything once none is left, is checked on the main thread.
  const verifyHere = (task: Task) => void deps.backend.verifyBatch(task.requests).then(task.resolve)
  for (const w of workers) {
    w.onmessage = ({ data }: MessageEvent<{ task: number; result: Uint8Array }>) => {
      const task = tasks.release(w)
      if (task && task.id === data.task) task.resolve(data.result)
      tasks.dispatch()
    }
    w.onerror = (e) => {
      log('verify worker failed: %s', e.message)
      const task = tasks.release(w)
      workers.splice(workers.indexOf(w), 1)
      w.terminate()
      if (task) verifyHere(task)
      if (workers.length === 0) for (const t of tasks.takeQueued()) verifyHere(t)
      tasks.dispatch()
    }
  }
  const batched = createVerifyBatcher(
    { chunk: CHUNK, schedule: (flush) => queueMicrotask(flush) },
    (requests) =>
      new Promise((resolve) => {
        const task = { id: nextTask++, requests, resolve }
        if (workers.length === 0) return verifyHere(task)
        tasks.submit(task)
      }),
  )

  return {
    name: `${deps.backend.name} x${workers.length} workers`,
    verifyBatch: batched,
    sign: (seed, message) => deps.backend.sign(seed, message),
  }
}
