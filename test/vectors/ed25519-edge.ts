/**
 * Ed25519 edge-case vectors, built deterministically with @noble/ed25519's point arithmetic.
 *
 * Browser-safe on purpose (no node imports): the same vectors run against Node's backends
 * (test/unit/ed25519-rule.test.ts, where libsodium confirms every expectation) and against
 * Chromium's WebCrypto (test/browser/ed25519-webcrypto.test.ts).
 *
 * `valid` is what libsodium's crypto_sign_verify_detached answers: the pinned rule
 * (src/core/crypto/ed25519-rule.ts). Most rejected vectors are built so that the plain
 * cofactorless equation encode([S]B - [k]A) == R (or the cofactored one, where named) HOLDS,
 * so a backend that skips one rule of the pinned rule accepts them and the test catches it.
 */
import * as ed from '@noble/ed25519'
import { sha512 } from '@noble/hashes/sha2.js'

ed.hashes.sha512 = sha512

/**
 * - `holds`: [S mod L]B - [k]A equals R as points (A and R decoded leniently, k over the exact
 *   bytes). A rejected `holds` vector is refused only by an encoding rule of the pinned rule.
 * - `cofactored-only`: only [8]([S]B - [k]A - R) = identity holds (what ZIP-215 accepts).
 * - `fails`: neither.
 */
export type Equation = 'holds' | 'cofactored-only' | 'fails'

export interface EdgeVector {
  readonly name: string
  readonly equation: Equation
  readonly publicKey: Uint8Array
  readonly message: Uint8Array
  readonly signature: Uint8Array
  /** libsodium's answer, and so the pinned rule's. */
  readonly valid: boolean
}

const Point = ed.Point
type Pt = InstanceType<typeof ed.Point>
const B = Point.BASE
const I = Point.ZERO

export const FIELD_P = 2n ** 255n - 19n
export const ORDER_L = 2n ** 252n + 27742317777372353535851937790883648493n
/** y of the order-8 points (libsodium's small-order blocklist). */
const Y_ORDER8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022n

const enc = new TextEncoder()
const utf8 = (s: string) => enc.encode(s)

export function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}

export function bytesToHex(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += b.toString(16).padStart(2, '0')
  return s
}

function leToNumber(bytes: Uint8Array): bigint {
  let n = 0n
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!)
  return n
}

function numberToLe32(n: bigint): Uint8Array {
  if (n < 0n || n >= 2n ** 256n) throw new RangeError('does not fit in 32 bytes')
  const out = new Uint8Array(32)
  let v = n
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
  return out
}

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

const mod = (a: bigint, m: bigint) => ((a % m) + m) % m
/** A deterministic scalar in [1, L) from a label. */
const scalarOf = (label: string) => mod(leToNumber(sha512(utf8(`blockfin/edge/${label}`))), ORDER_L - 1n) + 1n
/** k = SHA-512(R || A || M) mod L, over the exact bytes. */
const challenge = (R: Uint8Array, A: Uint8Array, M: Uint8Array) =>
  mod(leToNumber(sha512(cat(R, A, M))), ORDER_L)
const mul = (p: Pt, n: bigint): Pt => p.multiply(mod(n, ORDER_L), false)
const withSignBit = (bytes: Uint8Array): Uint8Array => {
  const out = Uint8Array.from(bytes)
  out[31]! |= 0x80
  return out
}
const sig = (R: Uint8Array, S: bigint) => cat(R, numberToLe32(S))

/** A point of order 8; the torsion subgroup is cyclic, so it is T8 * i for i in 0..7. */
export const T8: Pt = Point.fromBytes(numberToLe32(Y_ORDER8), false)
export const TORSION: readonly Pt[] = Array.from({ length: 8 }, (_, i) =>
  i === 0 ? I : T8.multiply(BigInt(i), false),
)

/** The order of a torsion point: the smallest t with t * P = identity. */
function torsionOrder(p: Pt): number {
  let q = p
  for (let t = 1; t <= 8; t++) {
    if (q.equals(I)) return t
    q = q.add(p)
  }
  throw new Error('not a torsion point')
}

/** The index i with T8 * i = p, for a torsion point p. */
function torsionIndex(p: Pt): number {
  const i = TORSION.findIndex((t) => t.equals(p))
  if (i < 0) throw new Error('not a torsion point')
  return i
}

/**
 * A signature (R, S) with encode([S]B - [k]A) == R_bytes for a public key that is a small-order
 * point T (encoded as `aBytes`): R = rB - cT, where c is a guess of k mod ord(T) retried until it
 * holds. No secret needed: small-order keys sign anything.
 */
function forgeForSmallOrderKey(T: Pt, aBytes: Uint8Array, message: Uint8Array, label: string): Uint8Array {
  const order = BigInt(torsionOrder(T))
  for (let attempt = 0; attempt < 256; attempt++) {
    const r = scalarOf(`${label}/r/${attempt}`)
    for (let c = 0n; c < order; c++) {
      const R = mul(B, r).subtract(mul(T, c)).toBytes()
      const k = challenge(R, aBytes, message)
      if (k % order === c) return sig(R, r)
    }
  }
  throw new Error(`no forgery found for ${label}`)
}

/**
 * A public key A = aB + T8 (mixed order) and a message for which -[k]T8 == target, so that with
 * S = k*a the bare equation gives [S]B - [k]A = target exactly. Used to make small-order (or
 * non-canonically encoded) R values that satisfy the cofactorless equation.
 */
function mixedKeyHittingTorsion(target: Pt, rBytes: Uint8Array, label: string) {
  const a = scalarOf(`${label}/a`)
  const A = mul(B, a).add(T8)
  const aBytes = A.toBytes()
  const want = BigInt(torsionIndex(target))
  for (let attempt = 0; attempt < 1024; attempt++) {
    const message = utf8(`${label}/${attempt}`)
    const k = challenge(rBytes, aBytes, message)
    // -k*T8 = T8 * ((8 - k mod 8) mod 8)
    if ((8n - (k % 8n)) % 8n === want)
      return { publicKey: aBytes, message, signature: sig(rBytes, mod(k * a, ORDER_L)) }
  }
  throw new Error(`no message found for ${label}`)
}

/** R bytes that decode (leniently) to `target` and satisfy the bare equation under some key. */
function signatureWithR(target: Pt, rBytes: Uint8Array, label: string) {
  if (target.equals(I)) {
    // A plain prime-order key: S = k*a gives [S]B - [k]A = identity.
    const a = scalarOf(`${label}/a`)
    const aBytes = mul(B, a).toBytes()
    const message = utf8(label)
    const k = challenge(rBytes, aBytes, message)
    return { publicKey: aBytes, message, signature: sig(rBytes, mod(k * a, ORDER_L)) }
  }
  return mixedKeyHittingTorsion(target, rBytes, label)
}

/** The eight small-order encodings plus the two x = 0 encodings with the sign bit set. */
function smallOrderEncodings(): { name: string; point: Pt; bytes: Uint8Array }[] {
  const out: { name: string; point: Pt; bytes: Uint8Array }[] = TORSION.map((point, i) => ({
    name: `order ${torsionOrder(point)} (T8*${i}) ${bytesToHex(point.toBytes()).slice(0, 8)}..`,
    point,
    bytes: point.toBytes(),
  }))
  // x = 0 only for the identity (order 1) and (0, -1) (order 2): their sign-bit-set encodings.
  for (const i of [0, 4]) {
    const point = TORSION[i]!
    out.push({
      name: `order ${torsionOrder(point)} (T8*${i}) with the sign bit set`,
      point,
      bytes: withSignBit(point.toBytes()),
    })
  }
  return out
}

/** Encodings with y >= p of the points with y = 0 and y = 1 (the only ones with known logs). */
function nonCanonicalSmallOrderEncodings(): { name: string; point: Pt; bytes: Uint8Array }[] {
  const yp = numberToLe32(FIELD_P) // y = p = 0 mod p: the order-4 points (x = +-sqrt(-1))
  const yp1 = numberToLe32(FIELD_P + 1n) // y = p + 1 = 1 mod p: the identity
  const order4 = TORSION.filter((t) => torsionOrder(t) === 4)
  const decode = (bytes: Uint8Array) => Point.fromBytes(bytes, true)
  return [
    { name: 'y = p (order 4, sign 0)', point: decode(yp), bytes: yp },
    { name: 'y = p (order 4, sign 1)', point: decode(withSignBit(yp)), bytes: withSignBit(yp) },
    { name: 'y = p + 1 (identity)', point: I, bytes: yp1 },
    { name: 'y = p + 1 (identity, sign 1)', point: I, bytes: withSignBit(yp1) },
  ].map((e) => {
    if (!e.point.equals(I) && !order4.some((t) => t.equals(e.point))) throw new Error('unexpected decoding')
    return e
  })
}

/** RFC 8032 section 7.1, tests 1-3. */
export const RFC8032_VECTORS = [
  {
    name: 'RFC 8032 test 1 (empty message)',
    secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'RFC 8032 test 2 (one byte)',
    secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'RFC 8032 test 3 (two bytes)',
    secret: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    publicKey: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
] as const

/** A plain valid signature by the key with seed `seedByte` repeated. */
export function plainSignature(seedByte: number, message: Uint8Array) {
  const seed = new Uint8Array(32).fill(seedByte)
  return { seed, publicKey: ed.getPublicKey(seed), message, signature: ed.sign(message, seed) }
}

/** Does [S mod L]B - [k]A equal R as points (ignoring every encoding rule)? */
export function bareEquationHolds(v: Pick<EdgeVector, 'publicKey' | 'message' | 'signature'>): boolean {
  try {
    const A = Point.fromBytes(v.publicKey, true)
    const R = v.signature.subarray(0, 32)
    const S = mod(leToNumber(v.signature.subarray(32)), ORDER_L)
    const k = challenge(R, v.publicKey, v.message)
    const lhs = mul(B, S).subtract(mul(A, k))
    return lhs.equals(Point.fromBytes(R, true))
  } catch {
    return false
  }
}

/** Does the cofactored equation [8]([S]B - [k]A - R) == identity hold (ZIP-215 style, S taken mod L)? */
export function cofactoredEquationHolds(v: Pick<EdgeVector, 'publicKey' | 'message' | 'signature'>): boolean {
  try {
    const A = Point.fromBytes(v.publicKey, true)
    const R = Point.fromBytes(v.signature.subarray(0, 32), true)
    const S = mod(leToNumber(v.signature.subarray(32)), ORDER_L)
    const k = challenge(v.signature.subarray(0, 32), v.publicKey, v.message)
    return mul(B, S).subtract(mul(A, k)).subtract(R).clearCofactor().equals(I)
  } catch {
    return false
  }
}

let cached: readonly EdgeVector[] | undefined

/** Every vector, built once (about a second of bigint arithmetic). */
export function edgeVectors(): readonly EdgeVector[] {
  cached ??= build()
  return cached
}

function build(): EdgeVector[] {
  const vectors: EdgeVector[] = []
  const add = (
    name: string,
    v: Pick<EdgeVector, 'publicKey' | 'message' | 'signature'>,
    valid: boolean,
    equation: Equation,
  ) =>
    vectors.push({
      name,
      valid,
      equation,
      publicKey: v.publicKey,
      message: v.message,
      signature: v.signature,
    })

  // Valid, and the same signature on another message.
  const base = plainSignature(1, utf8('blockfin edge vectors'))
  add('valid signature', base, true, 'holds')
  add('wrong message', { ...base, message: utf8('blockfin edge vectorS') }, false, 'fails')

  // Non-canonical S: [S + nL]B = [S]B, so only the S < L rule refuses these.
  const S = leToNumber(base.signature.subarray(32))
  const R = base.signature.subarray(0, 32)
  add('non-canonical S: S + L', { ...base, signature: sig(R, S + ORDER_L) }, false, 'holds')
  add('S >= 2^253: S + 2L', { ...base, signature: sig(R, S + 2n * ORDER_L) }, false, 'holds')
  add('S >= 2^255 (top bit set): S + 7L', { ...base, signature: sig(R, S + 7n * ORDER_L) }, false, 'holds')

  // Small-order public keys (each torsion point, and the sign-bit variants): signs anything.
  const message = utf8('small order')
  for (const e of smallOrderEncodings()) {
    const signature = forgeForSmallOrderKey(e.point, e.bytes, message, `A/${e.name}`)
    add(`small-order A: ${e.name}`, { publicKey: e.bytes, message, signature }, false, 'holds')
  }
  // Small-order R: mixed-order A, or a plain key for the identity, makes the equation hold.
  for (const e of smallOrderEncodings()) {
    add(`small-order R: ${e.name}`, signatureWithR(e.point, e.bytes, `R/${e.name}`), false, 'holds')
  }
  // Non-canonical A encodings (y >= p) of the small-order points with y = 0 and y = 1.
  for (const e of nonCanonicalSmallOrderEncodings()) {
    const signature = forgeForSmallOrderKey(e.point, e.bytes, message, `ncA/${e.name}`)
    add(`non-canonical A: ${e.name}`, { publicKey: e.bytes, message, signature }, false, 'holds')
  }
  // A non-canonical A (y = p + d) of a point of large order: no discrete log is known, so no
  // signature can make the equation hold; the encoding alone must be refused.
  for (let y = 2n; y < 19n; y++) {
    const bytes = numberToLe32(FIELD_P + y)
    try {
      Point.fromBytes(bytes, true)
    } catch {
      continue // not on the curve
    }
    add(`non-canonical A: y = p + ${y}, large order`, { ...base, publicKey: bytes }, false, 'fails')
    break
  }
  // Non-canonical R encodings (y >= p) of small-order points, with the equation holding on points.
  for (const e of nonCanonicalSmallOrderEncodings()) {
    add(`non-canonical R: ${e.name}`, signatureWithR(e.point, e.bytes, `ncR/${e.name}`), false, 'holds')
  }

  // Mixed-order A = aB + T8, signed the usual way: [S]B - [k]A = R - [k]T8, so only the
  // cofactored equation holds (k mod 8 != 0).
  const a = scalarOf('mixedA/a')
  const mixedA = mul(B, a).add(T8).toBytes()
  for (let attempt = 0; ; attempt++) {
    const r = scalarOf(`mixedA/r/${attempt}`)
    const Rb = mul(B, r).toBytes()
    const m = utf8(`mixed A ${attempt}`)
    const k = challenge(Rb, mixedA, m)
    if (k % 8n === 0n) continue // [k]T8 would vanish and the bare equation hold too
    const signature = sig(Rb, mod(r + k * a, ORDER_L))
    add(
      'mixed-order A: valid only under the cofactored equation',
      { publicKey: mixedA, message: m, signature },
      false,
      'cofactored-only',
    )
    break
  }
  // The same key with R = rB - [k]T8: the bare equation holds, and libsodium accepts it.
  add('mixed-order A: the bare equation holds', mixedKeyBareSignature(a, mixedA), true, 'holds')

  // Mixed-order R = rB + T8 with a plain key: only the cofactored equation holds.
  {
    const b = scalarOf('mixedR/a')
    const aBytes = mul(B, b).toBytes()
    const r = scalarOf('mixedR/r')
    const Rb = mul(B, r).add(T8).toBytes()
    const m = utf8('mixed R')
    const k = challenge(Rb, aBytes, m)
    const signature = sig(Rb, mod(r + k * b, ORDER_L))
    add(
      'mixed-order R: valid only under the cofactored equation',
      { publicKey: aBytes, message: m, signature },
      false,
      'cofactored-only',
    )
  }

  for (const v of RFC8032_VECTORS) {
    const publicKey = hexToBytes(v.publicKey)
    add(
      v.name,
      { publicKey, message: hexToBytes(v.message), signature: hexToBytes(v.signature) },
      true,
      'holds',
    )
  }
  return vectors
}

/** For A = aB + T8: R = rB - [c]T8 with c = k mod 8 (c != 0), S = r + k*a. */
function mixedKeyBareSignature(a: bigint, aBytes: Uint8Array) {
  const message = utf8('mixed A, bare equation')
  for (let attempt = 0; attempt < 256; attempt++) {
    const r = scalarOf(`mixedA2/r/${attempt}`)
    for (let c = 1n; c < 8n; c++) {
      const Rb = mul(B, r).subtract(mul(T8, c)).toBytes()
      const k = challenge(Rb, aBytes, message)
      if (k % 8n === c) return { publicKey: aBytes, message, signature: sig(Rb, mod(r + k * a, ORDER_L)) }
    }
  }
  throw new Error('no mixed-order signature found')
}
