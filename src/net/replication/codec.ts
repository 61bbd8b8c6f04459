/**
 * Frames of `/blockfin/replicate/1.0.0` (docs/replication.md). Every frame is one JSON object in
 * UTF-8, at most MAX_FRAME_BYTES, with `v` (the frame format version, 1) and `t` (its type).
 * Encoders never produce a frame over the limit: message batches are split across frames and a
 * message whose text alone does not fit is sent as `part` frames. Decoding never throws: bad input
 * gives a typed CodecError.
 */
import { isAscii } from '../../core/encoding/bytes'
import { MAX_MESSAGE_LENGTH, MAX_SEQUENCE } from '../../core/feed/message'
import { type FeedId, isFeedId } from '../../core/identity/ids'
import { err, ok, type Result } from '../../core/result'

export const REPLICATION_PROTOCOL = '/blockfin/replicate/1.0.0'
export const FRAME_VERSION = 1
/** libp2p's WebRTC message limit; the transport's length prefix is not counted. */
export const MAX_FRAME_BYTES = 16 * 1024
/** Most `part` frames one message may be split into (a text of 8192 UTF-16 units needs at most 2). */
export const MAX_PARTS = 4
/** Most texts one `msgs` frame may carry (a signed message is at least ~330 bytes, so ~50 fit). */
export const MAX_TEXTS_PER_FRAME = 256
export const MAX_ERROR_DETAIL = 256
/** Largest request id, ack count or window value we accept (stays an exact integer everywhere). */
const MAX_COUNTER = Number.MAX_SAFE_INTEGER

/** One entry of a vector clock: a feed and the latest sequence held (0: none yet). */
export type ClockEntry = readonly [FeedId, number]

export interface ReceiveWindow {
  /** Data frames (`msgs`, `part`) the receiver accepts unacknowledged. */
  readonly frames: number
  /** Bytes of unacknowledged data frames the receiver accepts (at least MAX_FRAME_BYTES). */
  readonly bytes: number
}

export interface HelloFrame {
  readonly t: 'hello'
  /** The network id (docs/protocol.md section 2); a peer of another network is refused. */
  readonly net: string
  /** True when the sender replicates every feed (relays, Messagenodes): send it `have` for all. */
  readonly all: boolean
  readonly win: ReceiveWindow
  /** The sender's clock of the feeds it replicates (one chunk of it). */
  readonly clock: ClockEntry[]
  /** True on every chunk but the last. */
  readonly more: boolean
}
export interface WantFrame {
  readonly t: 'want'
  /** Chosen by the requester, increasing within the connection; echoed by the data frames. */
  readonly rid: number
  readonly feed: FeedId
  readonly from: number
}
export interface UnwantFrame {
  readonly t: 'unwant'
  readonly feed: FeedId
}
export interface MsgsFrame {
  readonly t: 'msgs'
  readonly rid: number
  readonly feed: FeedId
  /** Sequence of texts[0]; the texts are consecutive. */
  readonly seq: number
  /** Messages exactly as signed. */
  readonly texts: string[]
}
export interface PartFrame {
  readonly t: 'part'
  readonly rid: number
  readonly feed: FeedId
  readonly seq: number
  /** This chunk's index, 0..n-1; the n chunks of a message are sent consecutively. */
  readonly i: number
  readonly n: number
  readonly chunk: string
}
export interface AckFrame {
  readonly t: 'ack'
  /** Data frames processed so far on this connection (cumulative). */
  readonly n: number
}
export interface HaveFrame {
  readonly t: 'have'
  readonly clock: ClockEntry[]
}
export interface FollowFrame {
  readonly t: 'follow'
  readonly clock: ClockEntry[]
}
export interface UnfollowFrame {
  readonly t: 'unfollow'
  readonly feeds: FeedId[]
}
export interface ErrorFrame {
  readonly t: 'error'
  readonly code: string
  /** The sender closes the connection after a fatal error. */
  readonly fatal: boolean
  readonly feed?: FeedId
  readonly detail?: string
}

export type Frame =
  | HelloFrame
  | WantFrame
  | UnwantFrame
  | MsgsFrame
  | PartFrame
  | AckFrame
  | HaveFrame
  | FollowFrame
  | UnfollowFrame
  | ErrorFrame
export type FrameType = Frame['t']
export type DataFrame = MsgsFrame | PartFrame

export const FRAME_TYPES: readonly FrameType[] = [
  'hello',
  'want',
  'unwant',
  'msgs',
  'part',
  'ack',
  'have',
  'follow',
  'unfollow',
  'error',
]

export const isDataFrame = (frame: Frame): frame is DataFrame => frame.t === 'msgs' || frame.t === 'part'

export type CodecError =
  | { code: 'FRAME_TOO_LARGE'; size: number; limit: number }
  | { code: 'FRAME_MALFORMED'; reason: string; type?: string; field?: string }
  | { code: 'UNKNOWN_FRAME'; type: string }
  | { code: 'UNSUPPORTED_VERSION'; version: unknown }
  | { code: 'WRONG_NETWORK'; expected: string; received: string }

export type CodecErrorCode = CodecError['code']

// ---------------------------------------------------------------------------------------------
// Sizes

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** UTF-8 length of a string's code units, as TextEncoder encodes it (lone surrogates: 3 bytes, U+FFFD). */
export function utf8Length(s: string): number {
  // Signed messages are almost always ASCII; the native scan is several times faster than the loop.
  if (isAscii(s)) return s.length
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) {
      n += 4
      i++
    } else n += 3
  }
  return n
}

const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff
const SHORT_ESCAPES = new Set([0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x22, 0x5c])

/** Bytes one code point (at s[i]) takes inside a JSON string as JSON.stringify writes it, in UTF-8. */
function escapedWidth(s: string, i: number): { bytes: number; units: number } {
  const c = s.charCodeAt(i)
  if (c < 0x20) return { bytes: SHORT_ESCAPES.has(c) ? 2 : 6, units: 1 }
  if (c === 0x22 || c === 0x5c) return { bytes: 2, units: 1 }
  if (c < 0x80) return { bytes: 1, units: 1 }
  if (c < 0x800) return { bytes: 2, units: 1 }
  if (c >= 0xd800 && c <= 0xdfff) {
    if (c <= 0xdbff && i + 1 < s.length && isLow(s.charCodeAt(i + 1))) return { bytes: 4, units: 2 }
    return { bytes: 6, units: 1 } // a lone surrogate: JSON.stringify writes \udxxx
  }
  return { bytes: 3, units: 1 }
}

/** UTF-8 length of JSON.stringify(s) (quotes included), without building it. */
export function jsonStringLength(s: string): number {
  let n = 2
  for (let i = 0; i < s.length; ) {
    const w = escapedWidth(s, i)
    n += w.bytes
    i += w.units
  }
  return n
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Encodes one frame; a frame over the limit is a typed error (the packers below never make one). */
export function encodeFrame(frame: Frame): Result<Uint8Array, CodecError> {
  // On the wire a clock is an object {feed: sequence}.
  const wire = 'clock' in frame ? { ...frame, clock: Object.fromEntries(frame.clock) } : frame
  const bytes = encoder.encode(JSON.stringify({ v: FRAME_VERSION, ...wire }))
  if (bytes.length > MAX_FRAME_BYTES)
    return err({ code: 'FRAME_TOO_LARGE', size: bytes.length, limit: MAX_FRAME_BYTES })
  return ok(bytes)
}

/** For frames whose size is bounded by construction (want, unwant, ack, error): a bug if not. */
export function encodeSmallFrame(frame: WantFrame | UnwantFrame | AckFrame | ErrorFrame): Uint8Array {
  const e = encodeFrame(frame)
  if (!e.ok) throw new Error(`replication codec: ${frame.t} frame over ${MAX_FRAME_BYTES} bytes`)
  return e.value
}

function finish(text: string): Uint8Array {
  const bytes = encoder.encode(text)
  if (bytes.length > MAX_FRAME_BYTES) throw new Error('replication codec: packed frame over the limit')
  return bytes
}

/**
 * Packs JSON fragments (each already encoded, with its UTF-8 size) between `open` and `close` into
 * as few frames as fit, separated by commas. Always yields at least one frame (possibly empty).
 */
function packFragments(
  open: (first: boolean, last: boolean) => string,
  close: string,
  fragments: readonly { text: string; bytes: number }[],
): Uint8Array[] {
  // `open` may differ between the last chunk and the others (hello's `more`): size with the larger.
  const overhead = Math.max(utf8Length(open(true, false)), utf8Length(open(true, true))) + utf8Length(close)
  const budget = MAX_FRAME_BYTES - overhead
  const chunks: string[][] = [[]]
  let used = 0
  for (const f of fragments) {
    let current = chunks.at(-1)!
    if (current.length > 0 && used + 1 + f.bytes > budget) {
      current = []
      chunks.push(current)
      used = 0
    }
    used += (current.length > 0 ? 1 : 0) + f.bytes
    current.push(f.text)
  }
  return chunks.map((c, i) => finish(`${open(i === 0, i === chunks.length - 1)}${c.join(',')}${close}`))
}

function clockFragments(clock: Iterable<ClockEntry>): { text: string; bytes: number }[] {
  const out: { text: string; bytes: number }[] = []
  for (const [feed, seq] of clock) {
    const text = `${JSON.stringify(feed)}:${seq}`
    out.push({ text, bytes: text.length }) // feed ids and integers are ASCII
  }
  return out
}

export interface HelloFields {
  readonly net: string
  readonly all: boolean
  readonly win: ReceiveWindow
}

/** Hello frames carrying `clock` in chunks; `more` is true on all but the last. */
export function packHello(fields: HelloFields, clock: Iterable<ClockEntry>): Uint8Array[] {
  const head = JSON.stringify({
    v: FRAME_VERSION,
    t: 'hello',
    net: fields.net,
    all: fields.all,
    win: fields.win,
  })
  const prefix = head.slice(0, -1)
  return packFragments(
    (_first, last) => `${prefix},"more":${last ? 'false' : 'true'},"clock":{`,
    '}}',
    clockFragments(clock),
  )
}

/** `have` or `follow` frames for a clock (empty clock: no frame). */
export function packClock(t: 'have' | 'follow', clock: Iterable<ClockEntry>): Uint8Array[] {
  const fragments = clockFragments(clock)
  if (fragments.length === 0) return []
  return packFragments(() => `{"v":${FRAME_VERSION},"t":"${t}","clock":{`, '}}', fragments)
}

export function packUnfollow(feeds: Iterable<FeedId>): Uint8Array[] {
  const fragments = [...feeds].map((f) => {
    const text = JSON.stringify(f)
    return { text, bytes: text.length }
  })
  if (fragments.length === 0) return []
  return packFragments(() => `{"v":${FRAME_VERSION},"t":"unfollow","feeds":[`, ']}', fragments)
}

export interface PackedData {
  readonly bytes: Uint8Array
  /** Messages completed by this frame (0 for a `part` that is not the last). */
  readonly messages: number
}

/**
 * Data frames for consecutive messages `texts` of `feed` starting at `seq`: as many whole texts per
 * `msgs` frame as fit, and a text too large for a frame on its own as `part` frames.
 */
export function packMessages(rid: number, feed: FeedId, seq: number, texts: readonly string[]): PackedData[] {
  const out: PackedData[] = []
  const msgsOpen = (s: number) =>
    `{"v":${FRAME_VERSION},"t":"msgs","rid":${rid},"feed":${JSON.stringify(feed)},"seq":${s},"texts":[`
  let batch: string[] = []
  let batchSeq = seq
  let used = 0
  let budget = 0
  const flush = () => {
    if (batch.length === 0) return
    out.push({ bytes: finish(`${msgsOpen(batchSeq)}${batch.join(',')}]}`), messages: batch.length })
    batch = []
  }
  texts.forEach((text, k) => {
    const s = seq + k
    const encoded = JSON.stringify(text)
    const size = utf8Length(encoded)
    if (batch.length > 0 && (used + 1 + size > budget || batch.length >= MAX_TEXTS_PER_FRAME)) flush()
    if (batch.length === 0) {
      batchSeq = s
      budget = MAX_FRAME_BYTES - utf8Length(msgsOpen(s)) - 2
      if (size > budget) {
        out.push(...packParts(rid, feed, s, text))
        return
      }
      batch.push(encoded)
      used = size
      return
    }
    batch.push(encoded)
    used += 1 + size
  })
  flush()
  return out
}

function packParts(rid: number, feed: FeedId, seq: number, text: string): PackedData[] {
  const open = (i: number, n: number) =>
    `{"v":${FRAME_VERSION},"t":"part","rid":${rid},"feed":${JSON.stringify(feed)},"seq":${seq},"i":${i},"n":${n},"chunk":`
  // i and n are single digits (MAX_PARTS < 10), so every part has the same overhead.
  const budget = MAX_FRAME_BYTES - utf8Length(open(0, 0)) - 1 - 2
  const chunks: string[] = []
  let start = 0
  let used = 0
  for (let i = 0; i < text.length; ) {
    const w = escapedWidth(text, i)
    if (used + w.bytes > budget) {
      chunks.push(text.slice(start, i))
      start = i
      used = 0
    }
    used += w.bytes
    i += w.units
  }
  chunks.push(text.slice(start))
  if (chunks.length > MAX_PARTS) throw new Error('replication codec: message needs more than MAX_PARTS parts')
  return chunks.map((chunk, i) => ({
    bytes: finish(`${open(i, chunks.length)}${JSON.stringify(chunk)}}`),
    messages: i === chunks.length - 1 ? 1 : 0,
  }))
}

// ---------------------------------------------------------------------------------------------
// Decoding

type Fields = Record<string, unknown>

const malformed = (reason: string, type?: string, field?: string): Result<never, CodecError> =>
  err({ code: 'FRAME_MALFORMED', reason, ...(type ? { type } : {}), ...(field ? { field } : {}) })

const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max

const isPlainObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v)

function readClock(type: string, v: unknown): Result<ClockEntry[], CodecError> {
  if (!isPlainObject(v)) return malformed('clock must be an object', type, 'clock')
  const entries: ClockEntry[] = []
  for (const [feed, seq] of Object.entries(v)) {
    if (!isFeedId(feed)) return malformed('clock key is not a feed id', type, 'clock')
    if (!isInt(seq, 0, MAX_SEQUENCE)) return malformed('clock value is not a sequence', type, 'clock')
    entries.push([feed, seq])
  }
  return ok(entries)
}

function readFeed(type: string, v: unknown, field = 'feed'): Result<FeedId, CodecError> {
  return isFeedId(v) ? ok(v) : malformed('not a feed id', type, field)
}

export interface DecodeContext {
  /** When given, a hello for another network is WRONG_NETWORK. */
  readonly networkId?: string
}

/** Decodes one received frame. Never throws. Unknown fields are ignored (forward compatibility). */
export function decodeFrame(bytes: Uint8Array, context: DecodeContext = {}): Result<Frame, CodecError> {
  if (bytes.length > MAX_FRAME_BYTES)
    return err({ code: 'FRAME_TOO_LARGE', size: bytes.length, limit: MAX_FRAME_BYTES })
  let text: string
  try {
    text = decoder.decode(bytes)
  } catch {
    return malformed('not UTF-8')
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    return malformed(`not JSON: ${(e as Error).message}`.slice(0, MAX_ERROR_DETAIL))
  }
  if (!isPlainObject(parsed)) return malformed('a frame is a JSON object')
  const o = parsed
  if (!('v' in o)) return malformed('missing v', undefined, 'v')
  if (o.v !== FRAME_VERSION) return err({ code: 'UNSUPPORTED_VERSION', version: o.v })
  const t = o.t
  if (typeof t !== 'string') return malformed('missing t', undefined, 't')
  switch (t) {
    case 'hello':
      return decodeHello(o, context)
    case 'want': {
      if (!isInt(o.rid, 1, MAX_COUNTER)) return malformed('bad rid', t, 'rid')
      const feed = readFeed(t, o.feed)
      if (!feed.ok) return feed
      if (!isInt(o.from, 1, MAX_SEQUENCE)) return malformed('bad from', t, 'from')
      return ok({ t, rid: o.rid, feed: feed.value, from: o.from })
    }
    case 'unwant': {
      const feed = readFeed(t, o.feed)
      return feed.ok ? ok({ t, feed: feed.value }) : feed
    }
    case 'msgs': {
      if (!isInt(o.rid, 1, MAX_COUNTER)) return malformed('bad rid', t, 'rid')
      const feed = readFeed(t, o.feed)
      if (!feed.ok) return feed
      if (!isInt(o.seq, 1, MAX_SEQUENCE)) return malformed('bad seq', t, 'seq')
      const texts = o.texts
      if (!Array.isArray(texts) || texts.length === 0 || texts.length > MAX_TEXTS_PER_FRAME)
        return malformed(`texts must be an array of 1 to ${MAX_TEXTS_PER_FRAME} strings`, t, 'texts')
      if (!texts.every((x) => typeof x === 'string')) return malformed('texts must be strings', t, 'texts')
      if (o.seq + texts.length - 1 > MAX_SEQUENCE) return malformed('sequence overflow', t, 'seq')
      return ok({ t, rid: o.rid, feed: feed.value, seq: o.seq, texts: texts as string[] })
    }
    case 'part': {
      if (!isInt(o.rid, 1, MAX_COUNTER)) return malformed('bad rid', t, 'rid')
      const feed = readFeed(t, o.feed)
      if (!feed.ok) return feed
      if (!isInt(o.seq, 1, MAX_SEQUENCE)) return malformed('bad seq', t, 'seq')
      if (!isInt(o.n, 2, MAX_PARTS)) return malformed(`n must be 2 to ${MAX_PARTS}`, t, 'n')
      if (!isInt(o.i, 0, o.n - 1)) return malformed('i must be 0 to n-1', t, 'i')
      if (typeof o.chunk !== 'string' || o.chunk.length === 0 || o.chunk.length > MAX_MESSAGE_LENGTH)
        return malformed('chunk must be a non-empty string', t, 'chunk')
      return ok({ t, rid: o.rid, feed: feed.value, seq: o.seq, i: o.i, n: o.n, chunk: o.chunk })
    }
    case 'ack':
      return isInt(o.n, 1, MAX_COUNTER) ? ok({ t, n: o.n }) : malformed('bad n', t, 'n')
    case 'have':
    case 'follow': {
      const clock = readClock(t, o.clock)
      return clock.ok ? ok({ t, clock: clock.value }) : clock
    }
    case 'unfollow': {
      const feeds = o.feeds
      if (!Array.isArray(feeds) || !feeds.every(isFeedId))
        return malformed('feeds must be feed ids', t, 'feeds')
      return ok({ t, feeds: feeds as FeedId[] })
    }
    case 'error': {
      if (typeof o.code !== 'string' || !/^[A-Z][A-Z0-9_]{0,63}$/.test(o.code))
        return malformed('code must be an UPPER_CASE identifier', t, 'code')
      if (typeof o.fatal !== 'boolean') return malformed('fatal must be a boolean', t, 'fatal')
      if (o.feed !== undefined && !isFeedId(o.feed)) return malformed('not a feed id', t, 'feed')
      if (o.detail !== undefined && (typeof o.detail !== 'string' || o.detail.length > MAX_ERROR_DETAIL))
        return malformed(`detail must be a string of at most ${MAX_ERROR_DETAIL}`, t, 'detail')
      return ok({
        t,
        code: o.code,
        fatal: o.fatal,
        ...(o.feed !== undefined ? { feed: o.feed as FeedId } : {}),
        ...(o.detail !== undefined ? { detail: o.detail as string } : {}),
      })
    }
    default:
      return err({ code: 'UNKNOWN_FRAME', type: t.slice(0, 64) })
  }
}

function decodeHello(o: Fields, context: DecodeContext): Result<HelloFrame, CodecError> {
  const t = 'hello'
  if (typeof o.net !== 'string' || o.net.length === 0 || o.net.length > 256)
    return malformed('net must be a network id', t, 'net')
  if (context.networkId !== undefined && o.net !== context.networkId)
    return err({ code: 'WRONG_NETWORK', expected: context.networkId, received: o.net })
  if (typeof o.all !== 'boolean') return malformed('all must be a boolean', t, 'all')
  if (typeof o.more !== 'boolean') return malformed('more must be a boolean', t, 'more')
  const win = o.win
  if (!isPlainObject(win) || !isInt(win.frames, 1, 1 << 16) || !isInt(win.bytes, MAX_FRAME_BYTES, 2 ** 32))
    return malformed(`win must be {frames >= 1, bytes >= ${MAX_FRAME_BYTES}}`, t, 'win')
  const clock = readClock(t, o.clock)
  if (!clock.ok) return clock
  return ok({
    t,
    net: o.net,
    all: o.all,
    win: { frames: win.frames, bytes: win.bytes },
    clock: clock.value,
    more: o.more,
  })
}
