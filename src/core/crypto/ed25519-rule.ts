/**
 * The pinned Ed25519 verification rule (docs/protocol.md, "Verification rule").
 *
 * We pin libsodium's rule, the one Secure Scuttlebutt itself verifies with, so that every backend
 * (WebCrypto, Node's OpenSSL, @noble/ed25519, libsodium) accepts exactly the same signatures.
 * A consensus system cannot let two honest nodes disagree on whether one signature is valid.
 *
 *   1. S is canonical: S < L.
 *   2. A (public key) and R are canonical encodings: y < p.
 *   3. Neither A nor R is a point of small order (sign bit ignored).
 *   4. The cofactorless equation holds, compared by bytes: encode([S]B - [k]A) == R,
 *      with k = SHA-512(R || A || M) mod L.
 *
 * WebCrypto and OpenSSL implement 4 (and 1) themselves; `passesEncodingRules` adds 2 and 3 in
 * front of them. The noble backend implements all four (see noble.ts).
 */

/** Group order L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
const L_BYTES = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
])

export const P = 2n ** 255n - 19n
export const L = 2n ** 252n + 27742317777372353535851937790883648493n

/** y-coordinates of the eight points of small order: 0, 1, p-1, and the two order-8 values. */
const Y_ORDER8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022n
const SMALL_ORDER_Y: readonly Uint8Array[] = [0n, 1n, P - 1n, Y_ORDER8, P - Y_ORDER8].map((y) =>
  numberToBytesLE(y),
)

export function numberToBytesLE(n: bigint): Uint8Array {
  const out = new Uint8Array(32)
  let v = n
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
  return out
}

export function bytesToNumberLE(bytes: Uint8Array): bigint {
  let n = 0n
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!)
  return n
}

/** S < L, compared as 32-byte little-endian integers without allocating. */
export function isCanonicalScalar(s: Uint8Array, offset = 0): boolean {
  for (let i = 31; i >= 0; i--) {
    const a = s[offset + i]!
    const b = L_BYTES[i]!
    if (a < b) return true
    if (a > b) return false
  }
  return false // equal to L
}

/** y < p for the 255-bit y in a point encoding (the top bit is the sign of x). */
export function isCanonicalPointEncoding(bytes: Uint8Array, offset = 0): boolean {
  // y >= p only when y is in [p, 2^255 - 1]: top byte 0x7f, bytes 1..30 all 0xff, byte 0 >= 0xed.
  if ((bytes[offset + 31]! & 0x7f) !== 0x7f) return true
  for (let i = 30; i >= 1; i--) if (bytes[offset + i] !== 0xff) return true
  return bytes[offset]! < 0xed
}

export function isSmallOrderEncoding(bytes: Uint8Array, offset = 0): boolean {
  for (const y of SMALL_ORDER_Y) {
    let diff = (bytes[offset + 31]! & 0x7f) ^ y[31]!
    for (let i = 0; i < 31; i++) diff |= bytes[offset + i]! ^ y[i]!
    if (diff === 0) return true
  }
  return false
}

/** Rules 1-3: cheap byte checks that run before any backend's curve arithmetic. */
export function passesEncodingRules(publicKey: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false
  return (
    isCanonicalScalar(signature, 32) &&
    isCanonicalPointEncoding(publicKey) &&
    isCanonicalPointEncoding(signature) &&
    !isSmallOrderEncoding(publicKey) &&
    !isSmallOrderEncoding(signature)
  )
}
