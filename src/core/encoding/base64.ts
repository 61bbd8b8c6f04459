/**
 * Strict, canonical base64 (RFC 4648 section 4, with padding). Every decoder in the protocol goes
 * through here so that one byte string has exactly one accepted text form: a message whose fields
 * could be spelled two ways could be given two ids.
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const LOOKUP = new Int16Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i

export function encodeBase64(bytes: Uint8Array): string {
  let out = ''
  let i = 0
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!
    out += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!
  }
  const rest = bytes.length - i
  if (rest === 1) {
    const n = bytes[i]! << 16
    out += `${ALPHABET[n >> 18]!}${ALPHABET[(n >> 12) & 63]!}==`
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8)
    out += `${ALPHABET[n >> 18]!}${ALPHABET[(n >> 12) & 63]!}${ALPHABET[(n >> 6) & 63]!}=`
  }
  return out
}

/** Decodes canonical base64; returns undefined for anything else (bad characters, length, padding, or non-zero trailing bits). */
export function decodeBase64(text: string, expectedLength?: number): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined
  let pad = 0
  if (text.endsWith('==')) pad = 2
  else if (text.endsWith('=')) pad = 1
  const outLength = (text.length / 4) * 3 - pad
  if (expectedLength !== undefined && outLength !== expectedLength) return undefined
  const out = new Uint8Array(outLength)
  let o = 0
  for (let i = 0; i < text.length; i += 4) {
    const last = i + 4 === text.length
    const c0 = sextet(text, i)
    const c1 = sextet(text, i + 1)
    const c2 = last && pad === 2 ? 0 : sextet(text, i + 2)
    const c3 = last && pad >= 1 ? 0 : sextet(text, i + 3)
    if (c0 < 0 || c1 < 0 || c2 < 0 || c3 < 0) return undefined
    const n = (c0 << 18) | (c1 << 12) | (c2 << 6) | c3
    out[o++] = n >> 16
    if (o < outLength) out[o++] = (n >> 8) & 255
    else if (last && (n & 0xffff) !== 0) return undefined // non-zero bits hidden under padding
    if (o < outLength) out[o++] = n & 255
    else if (last && pad === 1 && (n & 0xff) !== 0) return undefined
  }
  return out
}

function sextet(text: string, index: number): number {
  const code = text.charCodeAt(index)
  return code < 128 ? LOOKUP[code]! : -1
}
