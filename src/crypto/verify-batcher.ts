/**
 * What both verifying worker pools (Node worker threads, Web Workers) share. The front: the checks
 * of every caller made before `schedule` fires travel together in chunks, so many small calls (one
 * per message) cost one worker message per chunk, not one each; the pinned rule's byte checks
 * (1-3) run here, and `run` checks a chunk's curve equation (4) on a worker, answering in request
 * order. The back: a dispatcher that hands those chunks to idle workers.
 */
import type { VerifyRequest } from '../core/crypto/ed25519'
import { passesEncodingRules } from '../core/crypto/ed25519-rule'

interface Waiting {
  readonly request: VerifyRequest
  readonly settle: (ok: boolean) => void
}

export interface VerifyBatcherOptions {
  /** Requests per chunk handed to `run`. */
  readonly chunk: number
  /** Calls `flush` once the current turn's callers are in (setImmediate, queueMicrotask). */
  readonly schedule: (flush: () => void) => void
}

export function createVerifyBatcher(
  options: VerifyBatcherOptions,
  run: (part: readonly VerifyRequest[]) => Promise<ArrayLike<number | boolean>>,
): (requests: readonly VerifyRequest[]) => Promise<boolean[]> {
  let waiting: Waiting[] = []
  const flush = () => {
    const batch = waiting
    waiting = []
    for (let i = 0; i < batch.length; i += options.chunk) {
      const part = batch.slice(i, i + options.chunk)
      void run(part.map((w) => w.request)).then((answers) => {
        for (const [j, w] of part.entries()) w.settle(answers[j] === 1 || answers[j] === true)
      })
    }
  }
  return (requests) =>
    new Promise((resolve) => {
      const results = requests.map(() => false)
      let remaining = 0
      for (const [index, request] of requests.entries()) {
        if (!passesEncodingRules(request.publicKey, request.signature)) continue
        remaining++
        if (waiting.length === 0) options.schedule(flush)
        waiting.push({
          request,
          settle: (ok) => {
            results[index] = ok
            if (--remaining === 0) resolve(results)
          },
        })
      }
      if (remaining === 0) resolve(results)
    })
}

/**
 * The back of a verifying worker pool: queued tasks go to idle workers, one task per worker at a
 * time, in order. `release` hands back what a worker held once it answered (or failed); the pool
 * then calls `dispatch` for the next. The workers array is the pool's own: a worker it removes
 * is no longer given tasks.
 */
export function createTaskDispatcher<W, T>(workers: readonly W[], post: (worker: W, task: T) => void) {
  const queue: T[] = []
  const busy = new Map<W, T>()
  const dispatch = (): void => {
    for (const w of workers) {
      if (busy.has(w)) continue
      const task = queue.shift()
      if (task === undefined) return
      busy.set(w, task)
      post(w, task)
    }
  }
  return {
    dispatch,
    submit(task: T): void {
      queue.push(task)
      dispatch()
    },
    release(worker: W): T | undefined {
      const task = busy.get(worker)
      busy.delete(worker)
      return task
    },
    /** Every task still queued, taken out (a pool with no workers left checks them itself). */
    takeQueued(): T[] {
      return queue.splice(0)
    },
  }
}
