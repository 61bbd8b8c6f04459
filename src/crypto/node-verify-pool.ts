/**
 * An Ed25519 backend that spreads signature checks over worker threads (Node's OpenSSL in each),
 * so a relay, a headless validator or an in-process run of many nodes uses every core. Every
 * signature is still verified, under the pinned rule: the byte rules (1-3) run here, the curve
 * equation (4) in a worker. Signing stays on the calling thread (one signature per own message).
 * Also counts the verifications, which the consensus benchmark reports per transaction.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { Ed25519Backend } from '../core/crypto/ed25519'
import { createSodiumBackend, sodiumPath } from './node'
import { createTaskDispatcher, createVerifyBatcher } from './verify-batcher'
import { packRequests } from './verify-packing'

// libsodium when the addon loads (the pinned rule's own verifier, twice OpenSSL's speed here),
// else OpenSSL with a cache of parsed keys.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const { createPublicKey, verify } = require('node:crypto')
let sodium = null
try { if (workerData.sodiumPath) sodium = require(workerData.sodiumPath) } catch {}
const SPKI = Buffer.from('302a300506032b6570032100', 'hex')
const keys = new Map()
const openssl = (pk, sig, msg) => {
  const k = pk.toString('latin1')
  let key = keys.get(k)
  if (key === undefined) {
    if (keys.size > 50000) keys.clear()
    try { key = createPublicKey({ key: Buffer.concat([SPKI, pk]), format: 'der', type: 'spki' }) } catch { key = null }
    keys.set(k, key)
  }
  if (!key) return false
  try { return verify(null, msg, key, sig) } catch { return false }
}
const check = sodium ? (pk, sig, msg) => sodium.crypto_sign_verify_detached(sig, msg, pk) : openssl
parentPort.on('message', ({ buf }) => {
  const bytes = Buffer.from(buf)
  const out = []
  for (let at = 0; at < bytes.length; ) {
    const pk = bytes.subarray(at, at + 32)
    const sig = bytes.subarray(at + 32, at + 96)
    const len = bytes.readUInt32LE(at + 96)
    const msg = bytes.subarray(at + 100, at + 100 + len)
    at += 100 + len
    out.push(check(pk, sig, msg) ? 1 : 0)
  }
  const result = Uint8Array.from(out)
  parentPort.postMessage({ result }, [result.buffer])
})
`

export interface PoolBackend extends Ed25519Backend {
  /** Signatures checked since creation. */
  verifications: number
  close(): Promise<void>
}

interface Task {
  readonly buf: ArrayBuffer
  readonly resolve: (r: Uint8Array) => void
}

/** Requests per task sent to a worker: small enough that urgent work never waits long. */
const CHUNK = 64

export function createVerifyPool(threads = availableParallelism()): PoolBackend {
  const local = createSodiumBackend()
  const workers = Array.from(
    { length: threads },
    () => new Worker(WORKER, { eval: true, workerData: { sodiumPath: sodiumPath() } }),
  )
  // One FIFO queue. A priority lane for feed messages over transfer signatures was tried twice:
  // it starved transfers once, and with requests coalesced it made blocks smaller (votes ran
  // ahead of the items), lowering the peak more than it lowered latency.
  const tasks = createTaskDispatcher<Worker, Task>(workers, (w, task) =>
    w.postMessage({ buf: task.buf }, [task.buf]),
  )
  for (const w of workers) {
    w.unref()
    w.on('message', ({ result }: { result: Uint8Array }) => {
      tasks.release(w)?.resolve(result)
      tasks.dispatch()
    })
  }
  // Requests of every caller in the same turn of the event loop travel together: many nodes each
  // checking one message would otherwise cost a postMessage (and a worker wake-up) per signature.
  const batched = createVerifyBatcher(
    { chunk: CHUNK, schedule: (flush) => setImmediate(flush) },
    (part) => new Promise<Uint8Array>((resolve) => tasks.submit({ buf: packRequests(part), resolve })),
  )
  const pool: PoolBackend = {
    name: `${local.name} x${threads} workers`,
    verifications: 0,
    verifyBatch(requests) {
      pool.verifications += requests.length
      return batched(requests)
    },
    sign: (seed, message) => local.sign(seed, message),
    async close() {
      await Promise.all(workers.map((w) => w.terminate()))
    },
  }
  return pool
}
