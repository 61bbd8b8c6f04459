const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export const utf8Encode = (text: string): Uint8Array => encoder.encode(text)

const NON_ASCII = /[\u0080-\uffff]/

/** True when every code unit is below 0x80 (a native scan: several times faster than a loop). */
export const isAscii = (text: string): boolean => !NON_ASCII.test(text)

/** Decodes UTF-8, returning undefined for invalid sequences instead of replacing them. */
export function utf8Decode(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes)
  } catch {
    return undefined
  }
}

/**
 * The low byte of each UTF-16 code unit: Node's Buffer.from(text, 'binary'). SSB hashes message
 * ids this way (ssb-keys), so every implementation must reproduce the quirk to agree on ids.
 */
export function latin1Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff
  return out
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}
