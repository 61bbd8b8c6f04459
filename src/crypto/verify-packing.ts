/**
 * Signature checks as one transferable buffer, for verifying on worker threads:
 * per request [public key 32][signature 64][message length u32 LE][message].
 */
import type { VerifyRequest } from '../core/crypto/ed25519'

export function packRequests(requests: readonly VerifyRequest[]): ArrayBuffer {
  const size = requests.reduce((n, r) => n + 100 + r.message.length, 0)
  const buf = new ArrayBuffer(size)
  const bytes = new Uint8Array(buf)
  const view = new DataView(buf)
  let at = 0
  for (const r of requests) {
    bytes.set(r.publicKey, at)
    bytes.set(r.signature, at + 32)
    view.setUint32(at + 96, r.message.length, true)
    bytes.set(r.message, at + 100)
    at += 100 + r.message.length
  }
  return buf
}

export function unpackRequests(buf: ArrayBuffer): VerifyRequest[] {
  const bytes = new Uint8Array(buf)
  const view = new DataView(buf)
  const out: VerifyRequest[] = []
  for (let at = 0; at + 100 <= bytes.length; ) {
    const length = view.getUint32(at + 96, true)
    out.push({
      publicKey: bytes.subarray(at, at + 32),
      signature: bytes.subarray(at + 32, at + 96),
      message: bytes.subarray(at + 100, at + 100 + length),
    })
    at += 100 + length
  }
  return out
}
