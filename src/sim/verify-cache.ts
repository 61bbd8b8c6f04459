import type { Ed25519Backend, VerifyRequest } from '../core/crypto/ed25519'

/**
 * Simulator only: remembers the outcome of each distinct (key, message, signature) it verified.
 * Every distinct signature is still really verified once (so a forged one is still caught); the
 * same bytes checked again by another simulated node reuse the answer. The benchmark never uses
 * this: there every node verifies everything itself.
 */
export function createVerifyCache(inner: Ed25519Backend): Ed25519Backend & { readonly verified: number } {
  const seen = new Map<string, boolean>()
  let verified = 0
  const keyOf = (r: VerifyRequest) =>
    Buffer.from(r.publicKey).toString('latin1') +
    Buffer.from(r.signature).toString('latin1') +
    Buffer.from(r.message).toString('latin1')
  return {
    name: `${inner.name}+cache`,
    get verified() {
      return verified
    },
    async verifyBatch(requests) {
      const out: boolean[] = new Array(requests.length)
      const todo: number[] = []
      const keys = requests.map(keyOf)
      keys.forEach((k, i) => {
        const v = seen.get(k)
        if (v === undefined) todo.push(i)
        else out[i] = v
      })
      if (todo.length > 0) {
        const results = await inner.verifyBatch(todo.map((i) => requests[i]!))
        verified += todo.length
        todo.forEach((i, j) => {
          out[i] = results[j]!
          if (seen.size > 200_000) seen.clear()
          seen.set(keys[i]!, results[j]!)
        })
      }
      return out
    },
    sign: (seed, message) => inner.sign(seed, message),
  }
}
