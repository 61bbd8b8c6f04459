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
import { passesEncodingRules } from '../core/crypto/ed25519-rule'
import { packRequests } from './verify-packing'

const log = createDebug('blockfin:verify-pool')

/** Requests per task: large enough to amortise a message, small enough to share the workers. */
const CHUNK = 64
/** A worker that has not said it is ready by then is not used (the backend given is). */
const READY_TIMEOUT_MS = 5000

interface Waiting {
  readonly request: VerifyRequest
  readonly settle: (ok: boolean) => void
}

interface Task {
  readonly id: number
  readonly part: readonly Waiting[]
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

  const queue: Task[] = []
  const busy = new Map<Worker, Task>()
  let nextTask = 0
  const dispatch = () => {
    for (const w of workers) {
      if (busy.has(w)) continue
      const task = queue.shift()
      if (!task) return
      busy.set(w, task)
      const buf = packRequests(task.part.map((x) => x.request))
      w.postMessage({ task: task.id, buf }, [buf])
    }
  }
  for (const w of workers) {
    w.onmessage = ({ data }: MessageEvent<{ task: number; result: Uint8Array }>) => {
      const task = busy.get(w)
      busy.delete(w)
      if (task && task.id === data.task)
        for (const [i, x] of task.part.entries()) x.settle(data.result[i] === 1)
      dispatch()
    }
    w.onerror = (e) => {
      // A worker that fails is left out; what it held is checked on the main thread instead.
      log('verify worker failed: %s', e.message)
      const task = busy.get(w)
      busy.delete(w)
      workers.splice(workers.indexOf(w), 1)
      w.terminate()
      if (task) void verifyHere(task.part)
      if (workers.length === 0) for (const t of queue.splice(0)) void verifyHere(t.part)
      dispatch()
    }
  }
  const verifyHere = async (part: readonly Waiting[]) => {
    const valid = await deps.backend.verifyBatch(part.map((x) => x.request))
    for (const [i, x] of part.entries()) x.settle(valid[i] === true)
  }

  // Requests made in one turn travel together: many small calls (one per message) would
  // otherwise cost a worker message each.
  let waiting: Waiting[] = []
  const flush = () => {
    const batch = waiting
    waiting = []
    if (workers.length === 0) return void verifyHere(batch)
    for (let i = 0; i < batch.length; i += CHUNK)
      queue.push({ id: nextTask++, part: batch.slice(i, i + CHUNK) })
    dispatch()
  }

  return {
    name: `${deps.backend.name} x${workers.length} workers`,
    verifyBatch(requests) {
      return new Promise((resolve) => {
        const results = requests.map(() => false)
        let remaining = 0
        requests.forEach((request, index) => {
          if (!passesEncodingRules(request.publicKey, request.signature)) return
          remaining++
          if (waiting.length === 0) queueMicrotask(flush)
          waiting.push({
            request,
            settle: (ok) => {
              results[index] = ok
              if (--remaining === 0) resolve(results)
            },
          })
        })
        if (remaining === 0) resolve(results)
      })
    },
    sign: (seed, message) => deps.backend.sign(seed, message),
  }
}
