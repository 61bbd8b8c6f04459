/**
 * The front of a verifying worker pool (Node worker threads or Web Workers): the checks of every
 * caller made before `schedule` fires travel together in chunks, so many small calls (one per
 * message) cost one worker message per chunk, not one each. The pinned rule's byte checks (1-3)
 * run here; `run` checks a chunk's curve equation (4) on a worker and answers in request order.
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
