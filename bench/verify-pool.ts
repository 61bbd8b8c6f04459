/**
 * An Ed25519 backend that spreads signature checks over worker threads (Node's OpenSSL in each),
 * so an in-process run of many nodes can use every core. Every signature is still verified, under
 * the pinned rule: the byte rules (1-3) run here, the curve equation (4) in a worker. Also counts
 * the verifications, which the benchmark reports per transaction.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { Ed25519Backend, VerifyRequest } from '../src/core/crypto/ed25519'
import { passesEncodingRules } from '../src/core/crypto/ed25519-rule'
import { createNodeBackend } from '../src/crypto/node'

const WORKER = `
const { parentPort } = require('node:worker_threads')
const { createPublicKey, verify } = require('node:crypto')
const SPKI = Buffer.from('302a300506032b6570032100', 'hex')
const keys = new Map()
parentPort.on('message', ({ id, buf }) => {
  const bytes = Buffer.from(buf)
  const out = []
  for (let at = 0; at < bytes.length; ) {
    const pk = bytes.subarray(at, at + 32)
    const sig = bytes.subarray(at + 32, at + 96)
    const len = bytes.readUInt32LE(at + 96)
    const msg = bytes.subarray(at + 100, at + 100 + len)
    at += 100 + len
    const k = pk.toString('latin1')
    let key = keys.get(k)
    if (key === undefined) {
      if (keys.size > 50000) keys.clear()
      try { key = createPublicKey({ key: Buffer.concat([SPKI, pk]), format: 'der', type: 'spki' }) } catch { key = null }
      keys.set(k, key)
    }
    let ok = false
    if (key) { try { ok = verify(null, msg, key, sig) } catch { ok = false } }
    out.push(ok ? 1 : 0)
  }
  const result = Uint8Array.from(out)
  parentPort.postMessage({ id, result }, [result.buffer])
})
`

export interface PoolBackend extends Ed25519Backend {
  /** Signatures checked since creation (or the last reset). */
  verifications: number
  close(): Promise<void>
}

/** Below this many requests a batch is verified here: a round trip to a worker costs more. */
const INLINE_BELOW = 8

export function createVerifyPool(threads = availableParallelism()): PoolBackend {
  const local = createNodeBackend()
  const workers = Array.from({ length: threads }, () => new Worker(WORKER, { eval: true }))
  const pending = new Map<number, (r: Uint8Array) => void>()
  let nextId = 0
  let nextWorker = 0
  for (const w of workers) {
    w.unref()
    w.on('message', ({ id, result }: { id: number; result: Uint8Array }) => {
      pending.get(id)?.(result)
      pending.delete(id)
    })
  }
  const encode = (requests: readonly VerifyRequest[]) => {
    const size = requests.reduce((n, r) => n + 100 + r.message.length, 0)
    const buf = Buffer.alloc(size)
    let at = 0
    for (const r of requests) {
      buf.set(r.publicKey, at)
      buf.set(r.signature, at + 32)
      buf.writeUInt32LE(r.message.length, at + 96)
      buf.set(r.message, at + 100)
      at += 100 + r.message.length
    }
    return buf
  }
  const run = (requests: readonly VerifyRequest[]): Promise<Uint8Array> => {
    const id = nextId++
    const worker = workers[nextWorker++ % workers.length]!
    const buf = encode(requests)
    return new Promise((resolve) => {
      pending.set(id, resolve)
      worker.postMessage({ id, buf: buf.buffer }, [buf.buffer])
    })
  }
  const pool: PoolBackend = {
    name: `node-crypto x${threads} workers`,
    verifications: 0,
    async verifyBatch(requests) {
      pool.verifications += requests.length
      const results = requests.map(() => false)
      const todo: number[] = []
      requests.forEach((r, i) => {
        if (passesEncodingRules(r.publicKey, r.signature)) todo.push(i)
      })
      if (todo.length === 0) return results
      if (todo.length < INLINE_BELOW) {
        const inline = await local.verifyBatch(todo.map((i) => requests[i]!))
        todo.forEach((i, j) => {
          results[i] = inline[j]!
        })
        return results
      }
      // Split across workers so one big batch uses every core.
      const chunk = Math.ceil(todo.length / workers.length)
      const parts: number[][] = []
      for (let i = 0; i < todo.length; i += chunk) parts.push(todo.slice(i, i + chunk))
      const answers = await Promise.all(parts.map((p) => run(p.map((i) => requests[i]!))))
      for (const [k, p] of parts.entries())
        for (const [j, i] of p.entries()) results[i] = answers[k]![j] === 1
      return results
    },
    sign: (seed, message) => local.sign(seed, message),
    async close() {
      await Promise.all(workers.map((w) => w.terminate()))
    },
  }
  return pool
}
