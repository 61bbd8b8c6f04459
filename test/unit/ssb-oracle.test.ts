import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { encodeBase64 } from '../../src/core/encoding/base64'
import { decodeMessage } from '../../src/core/feed/decode'
import type { FeedErrorCode } from '../../src/core/feed/errors'
import { verifyForkEvidence } from '../../src/core/feed/evidence'
import {
  createMessage,
  type FeedHead,
  type MessageContent,
  messageIdOfText,
  type VerifiedMessage,
} from '../../src/core/feed/message'
import type { FeedId } from '../../src/core/identity/ids'
import { exportKeys, keyPairFromSeed } from '../../src/core/identity/keys'
import { createNodeBackend } from '../../src/crypto/node'
import { FeedStore } from '../../src/store/feed-store'
import { createMemoryAdapter } from '../../src/store/memory-adapter'
import {
  buildKit,
  CORPUS,
  type CorpusRow,
  type Kit,
  STRICTER_THAN_SSB,
  TIMESTAMP,
} from './fixtures/adversarial-corpus'

const require = createRequire(import.meta.url)
type SsbMessage = Record<string, unknown>
type SsbState = {
  feeds: Record<string, { id: string; sequence: number; timestamp: number; queue: unknown[] }>
}
const validate = require('ssb-validate') as {
  initial(): SsbState
  append(state: SsbState, hmacKey: string | Buffer | null, msg: unknown): SsbState
  id(msg: unknown): string
  create(
    state: unknown,
    keys: unknown,
    hmacKey: string | null,
    content: unknown,
    timestamp: number,
  ): SsbMessage
}
const ssbKeys = require('ssb-keys') as {
  signObj(keys: unknown, hmacKey: Buffer | null, obj: SsbMessage): SsbMessage
}

const ed25519 = createNodeBackend()
let kit: Kit

beforeAll(async () => {
  kit = await buildKit(ed25519)
})

const hmacOf = (key: Uint8Array | null) => (key ? encodeBase64(key) : null)

/** ssb-validate, fed sequentially from its initial state. Returns its id for each message, or throws. */
function ssbAppendAll(texts: readonly string[], networkKey: Uint8Array | null): string[] {
  let state = validate.initial()
  return texts.map((text) => {
    const msg = JSON.parse(text) as SsbMessage
    state = validate.append(state, hmacOf(networkKey), msg)
    return state.feeds[msg.author as string]!.id
  })
}

/** A feed of `contents`, signed by the project. */
async function projectFeed(contents: MessageContent[], networkKey: Uint8Array | null, seed = 7) {
  const keys = keyPairFromSeed(new Uint8Array(32).fill(seed))
  const out: VerifiedMessage[] = []
  let head: FeedHead | null = null
  for (const content of contents) {
    const m: Awaited<ReturnType<typeof createMessage>> = await createMessage(
      { keys, head, content, timestamp: TIMESTAMP + out.length, networkKey },
      ed25519,
    )
    if (!m.ok) throw new Error(`createMessage: ${m.error.code}`)
    out.push(m.value)
    head = { sequence: m.value.value.sequence, id: m.value.id }
  }
  return { keys, messages: out }
}

const NON_ASCII_CONTENTS: MessageContent[] = [
  { type: 'post', text: 'plain ASCII' },
  { type: 'post', text: 'accents: é à ü ñ ç ø Å ß' },
  { type: 'post', text: 'CJK: 漢字 かな 한국어' },
  { type: 'post', text: 'emoji: 😀 👩‍👩‍👧 🇫🇮' },
  { type: 'post', text: 'lone surrogates: \ud800 \udfff \udc00x' },
  { type: 'post', text: 'controls: \u0000 \u0001 \u001f \u007f \u0085 \u2028 \u2029 \t \n \r "quoted" \\' },
  { type: 'post', text: 'latin1 low bytes that collide: \u0100\u0041\u0141\u0241' },
  { type: 'πøst-ünïcødé-type', text: 'non-ASCII type' },
  { type: 'post', 1: 'one', 10: 'ten', 2: 'two', nested: { 3: [1, 2, { 0: 'zero' }], b: null } },
  { type: 'post', '-1': 'negative', '01': 'leading zero', '4294967295': 'not an index', 4294967294: 'index' },
  { type: 'post', numbers: [0, -1, 1.5, 1e21, 1e-7, 2 ** 53, -0.000001], flags: [true, false, null] },
  { type: 'xyz' },
  { type: 'x'.repeat(52) },
]

describe('ssb-validate accepts the project’s feeds, with the same ids', () => {
  it('accepts a createMessage feed with a network key, message by message, and computes our ids', async () => {
    const { messages } = await projectFeed(NON_ASCII_CONTENTS, kit.network)
    const ids = ssbAppendAll(
      messages.map((m) => m.text),
      kit.network,
    )
    expect(ids).toEqual(messages.map((m) => m.id))
    for (const m of messages) expect(validate.id(JSON.parse(m.text))).toBe(m.id)
  })

  it('accepts it with the network key given as a Buffer too (the hmac_key forms SSB takes)', async () => {
    const { messages } = await projectFeed(NON_ASCII_CONTENTS.slice(0, 3), kit.network)
    let state = validate.initial()
    for (const m of messages) state = validate.append(state, Buffer.from(kit.network), JSON.parse(m.text))
    expect(Object.keys(state.feeds)).toHaveLength(1)
  })

  it('accepts a plain-SSB feed (no network key) the same way', async () => {
    const { messages } = await projectFeed(NON_ASCII_CONTENTS, null)
    expect(
      ssbAppendAll(
        messages.map((m) => m.text),
        null,
      ),
    ).toEqual(messages.map((m) => m.id))
  })

  it('accepts a feed published through FeedStore.publish and read back with range()', async () => {
    const store = await FeedStore.open(
      { networkKey: kit.network },
      { adapter: createMemoryAdapter(), ed25519 },
    )
    const keys = keyPairFromSeed(new Uint8Array(32).fill(9))
    const published = await Promise.all(
      NON_ASCII_CONTENTS.map((c, i) => store.publish(keys, c, TIMESTAMP + i)),
    )
    expect(published.every((o) => o.ok)).toBe(true)
    const texts = await store.range(keys.id, 1)
    expect(texts).toHaveLength(NON_ASCII_CONTENTS.length)
    expect(ssbAppendAll(texts, kit.network)).toEqual(published.map((o) => (o.ok ? o.value.id : '')))
  })

  it('hashes ids the way ssb-keys does (latin1 of the text), which is not sha256 of its UTF-8', async () => {
    const { messages } = await projectFeed([{ type: 'post', text: '漢字 😀' }], kit.network)
    const text = messages[0]!.text
    const latin1 = `%${createHash('sha256').update(Buffer.from(text, 'latin1')).digest('base64')}.sha256`
    const utf8 = `%${createHash('sha256').update(Buffer.from(text, 'utf8')).digest('base64')}.sha256`
    expect(messages[0]!.id).toBe(latin1)
    expect(messages[0]!.id).not.toBe(utf8)
    expect(validate.id(JSON.parse(text))).toBe(latin1)
  })

  it('accepts a message of exactly 8192 characters on both sides', async () => {
    const keys = keyPairFromSeed(new Uint8Array(32).fill(4))
    const sized = async (n: number) => {
      const m = await createMessage(
        {
          keys,
          head: null,
          content: { type: 'post', text: 'y'.repeat(n) },
          timestamp: TIMESTAMP,
          networkKey: kit.network,
        },
        ed25519,
      )
      return m
    }
    const probe = await sized(0)
    if (!probe.ok) throw new Error('probe')
    const exact = await sized(8192 - probe.value.text.length)
    expect(exact.ok && exact.value.text.length).toBe(8192)
    if (!exact.ok) return
    expect(ssbAppendAll([exact.value.text], kit.network)).toEqual([exact.value.id])
    expect(decodeMessage(exact.value.text, kit.network).ok).toBe(true)
    expect(await sized(8193 - probe.value.text.length)).toMatchObject({
      ok: false,
      error: { code: 'MESSAGE_TOO_LARGE' },
    })
  })

  it('accepts random JSON content, any UTF-16 strings included, with the same ids (property)', async () => {
    const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))
    const str = fc.oneof(
      fc.string({ unit: anyUnit, maxLength: 12 }),
      fc.string({ unit: 'binary', maxLength: 12 }),
    )
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        str,
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(str, tie('value'), { maxKeys: 4 }),
      ),
    }))
    const content = fc
      .tuple(
        fc.string({ unit: anyUnit, minLength: 3, maxLength: 52 }),
        fc.dictionary(str, json.value, { maxKeys: 5 }),
      )
      .map(([type, rest]) => ({ ...rest, type }) as MessageContent)
    await fc.assert(
      fc.asyncProperty(fc.array(content, { minLength: 1, maxLength: 3 }), async (contents) => {
        const { messages } = await projectFeed(contents, kit.network, 11)
        expect(
          ssbAppendAll(
            messages.map((m) => m.text),
            kit.network,
          ),
        ).toEqual(messages.map((m) => m.id))
        for (const m of messages) {
          const d = decodeMessage(m.text, kit.network)
          expect(d.ok && d.value.id).toBe(m.id)
        }
      }),
      { numRuns: 150 },
    )
  })

  it('accepts messages signed by ssb-keys in the canonical order, with ssb-validate’s ids', async () => {
    const keys = keyPairFromSeed(new Uint8Array(32).fill(5))
    const store = await FeedStore.open(
      { networkKey: kit.network },
      { adapter: createMemoryAdapter(), ed25519 },
    )
    let previous: string | null = null
    for (let sequence = 1; sequence <= 4; sequence++) {
      const msg = ssbKeys.signObj(exportKeys(keys), Buffer.from(kit.network), {
        previous,
        author: keys.id,
        sequence,
        timestamp: TIMESTAMP + sequence,
        hash: 'sha256',
        content: { type: 'post', text: `ssb-keys ${sequence} ✓ 😀` },
      })
      const outcome = await store.appendOne(JSON.stringify(msg, null, 2))
      expect(outcome.ok).toBe(true)
      if (!outcome.ok) return
      expect(outcome.value.id).toBe(validate.id(msg))
      previous = outcome.value.id
    }
  })
})

// ---------------------------------------------------------------------------------------------

interface Verdict {
  readonly accepted: boolean
  readonly reason: string
  readonly id?: string
}

const receiverKey = (row: CorpusRow) => (row.receiver === 'no-network-key' ? null : kit.network)
const authorOf = (row: CorpusRow): FeedId => (row.author ? row.author(kit) : kit.alice.id)
const priorTexts = (row: CorpusRow) => (row.prior ?? []).map((name) => kit.messages[name].text)

/** ssb-validate's verdict on the row's message, after the row's prior messages (or feed state). */
function ssbVerdict(row: CorpusRow): Verdict {
  const hmac = hmacOf(receiverKey(row))
  let state = validate.initial()
  for (const text of priorTexts(row)) state = validate.append(state, hmac, JSON.parse(text))
  if (row.ssbFeedState) state.feeds[authorOf(row)] = { ...row.ssbFeedState(kit), queue: [] }
  const text = row.build(kit)
  let msg: unknown = text
  if (typeof text === 'string') {
    try {
      msg = JSON.parse(text)
    } catch (e) {
      return { accepted: false, reason: `JSON.parse: ${(e as Error).message}` }
    }
  }
  try {
    validate.append(state, hmac, msg)
    return { accepted: true, reason: '', id: validate.id(msg) }
  } catch (e) {
    return { accepted: false, reason: (e as Error).message }
  }
}

/** What the project's stateless layers say: the decode error, or whether the signature verifies. */
async function projectStateless(row: CorpusRow) {
  const decoded = decodeMessage(row.build(kit), receiverKey(row))
  if (!decoded.ok) return { decoded, signatureValid: undefined }
  const [signatureValid] = await ed25519.verifyBatch([decoded.value.verify])
  return { decoded, signatureValid }
}

async function storeAfterPrior(row: CorpusRow) {
  const store = await FeedStore.open(
    { networkKey: receiverKey(row) },
    { adapter: createMemoryAdapter(), ed25519 },
  )
  const prior = await store.append(priorTexts(row))
  expect(prior.every((o) => o.ok)).toBe(true)
  return store
}

const label = (row: CorpusRow) => `${row.name} -> ${row.code}${row.field ? ` (${row.field})` : ''}`

describe('adversarial corpus', () => {
  it('has at least 30 entries with unique names, covering every refusal of the feed layer', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(30)
    const names = [...CORPUS, ...STRICTER_THAN_SSB].map((r) => r.name)
    expect(new Set(names).size).toBe(names.length)
    const codes = new Set(CORPUS.map((r) => r.code))
    const expected: FeedErrorCode[] = [
      'MESSAGE_TOO_LARGE',
      'MALFORMED_JSON',
      'NOT_AN_OBJECT',
      'WRONG_KEY_ORDER',
      'MISSING_FIELD',
      'INVALID_FIELD',
      'NON_CANONICAL_ENCODING',
      'INVALID_CONTENT',
      'SIGNATURE_INVALID',
      'FEED_GAP',
      'FEED_DUPLICATE',
      'FEED_FORK',
    ]
    for (const code of expected) expect(codes.has(code), code).toBe(true)
    const missing = CORPUS.filter((r) => r.code === 'MISSING_FIELD').map((r) => r.field)
    expect(missing.sort()).toEqual([
      'author',
      'content',
      'hash',
      'previous',
      'sequence',
      'signature',
      'timestamp',
    ])
    for (const field of ['previous', 'author', 'sequence', 'timestamp', 'hash', 'signature'])
      expect(
        CORPUS.some((r) => r.code === 'INVALID_FIELD' && r.field === field),
        field,
      ).toBe(true)
  })

  it.each(CORPUS.map((r) => [label(r), r] as const))('ssb-validate refuses it: %s', (_, row) => {
    const verdict = ssbVerdict(row)
    expect(verdict.accepted, 'ssb-validate accepted it').toBe(false)
  })

  it.each(CORPUS.map((r) => [label(r), r] as const))(
    'the project refuses it with its code at its stage, without state: %s',
    async (_, row) => {
      const { decoded, signatureValid } = await projectStateless(row)
      if (row.stage === 'decode') {
        expect(decoded.ok).toBe(false)
        if (decoded.ok) return
        expect(decoded.error.code).toBe(row.code)
        if (row.field) expect(decoded.error).toMatchObject({ field: row.field })
      } else {
        // Well-formed: only the signature check (or, for chain entries, the feed's state) can refuse it.
        expect(decoded.ok, decoded.ok ? '' : decoded.error.code).toBe(true)
        expect(signatureValid).toBe(row.stage === 'chain')
      }
    },
  )

  it.each(CORPUS.map((r) => [label(r), r] as const))(
    'the store refuses it with its code and stores nothing: %s',
    async (_, row) => {
      const store = await storeAfterPrior(row)
      const clock = store.vectorClock()
      const author = authorOf(row)
      const storedBefore = await store.range(author, 1)
      const outcome = await store.appendOne(row.build(kit))
      expect(outcome.ok).toBe(false)
      if (outcome.ok) return
      expect(outcome.error.code).toBe(row.code)
      if (row.field) expect(outcome.error).toMatchObject({ field: row.field })
      expect(store.vectorClock()).toEqual(clock)
      expect(await store.range(author, 1)).toEqual(storedBefore)
      expect(storedBefore).toEqual(priorTexts(row).filter((t) => JSON.parse(t).author === author))
      const head = store.head(author)
      expect(await store.range(author, (head?.sequence ?? 0) + 1)).toEqual([])
      if (outcome.error.code === 'FEED_FORK') {
        const verified = await verifyForkEvidence(outcome.error.evidence, receiverKey(row), ed25519)
        expect(verified).toEqual({ ok: true, value: { author, sequence: outcome.error.evidence.sequence } })
        expect(store.isForked(author)).toBe(true)
        expect(store.evidence()).toEqual([outcome.error.evidence])
      } else {
        expect(store.evidence()).toEqual([])
      }
    },
  )

  it('refuses the whole corpus in one batch, each entry with its own code when it arrives on its own', async () => {
    // No prior state: the entries that need none are independent of each other in one batch.
    const independent = CORPUS.filter(
      (r) => !r.prior && r.receiver !== 'no-network-key' && r.stage !== 'chain',
    )
    const store = await FeedStore.open(
      { networkKey: kit.network },
      { adapter: createMemoryAdapter(), ed25519 },
    )
    const outcomes = await store.append(independent.map((r) => r.build(kit)))
    expect(outcomes.map((o) => (o.ok ? 'ok' : o.error.code))).toEqual(independent.map((r) => r.code))
    expect(store.vectorClock().size).toBe(0)
  })
})

describe('stricter than ssb-validate, on purpose', () => {
  it.each(STRICTER_THAN_SSB.map((r) => [`${r.name}: ${r.description}`, r] as const))(
    'ssb-validate accepts it, the project refuses it and stores nothing: %s',
    async (_, row) => {
      const verdict = ssbVerdict(row)
      expect(verdict.accepted, verdict.reason).toBe(true)
      const decoded = decodeMessage(row.build(kit), receiverKey(row))
      expect(decoded.ok).toBe(false)
      if (!decoded.ok) {
        expect(decoded.error.code).toBe(row.code)
        if (row.field) expect(decoded.error).toMatchObject({ field: row.field })
      }
      const store = await storeAfterPrior(row)
      const clock = store.vectorClock()
      const outcome = await store.appendOne(row.build(kit))
      expect(outcome.ok ? 'ok' : outcome.error.code).toBe(row.code)
      expect(store.vectorClock()).toEqual(clock)
    },
  )

  it('covers ssb-validate’s own create(): it writes sequence before author, which the project refuses', () => {
    const keys = exportKeys(keyPairFromSeed(new Uint8Array(32).fill(6)))
    const msg = validate.create(null, keys, hmacOf(kit.network), { type: 'post' }, TIMESTAMP)
    expect(Object.keys(msg).slice(0, 3)).toEqual(['previous', 'sequence', 'author'])
    const decoded = decodeMessage(JSON.stringify(msg, null, 2), kit.network)
    expect(decoded.ok ? 'ok' : decoded.error.code).toBe('WRONG_KEY_ORDER')
  })
})

describe('differential fuzzing against ssb-validate', () => {
  /** The reasons of STRICTER_THAN_SSB: the only ones allowed for refusing what ssb-validate accepts. */
  const STRICTER_REASONS = new Set([
    'NON_CANONICAL_ENCODING',
    'WRONG_KEY_ORDER',
    'INVALID_CONTENT',
    'INVALID_FIELD:timestamp',
  ])

  it('accepts only what ssb-validate accepts (same id), and refuses what it accepts only for a documented stricter reason', async () => {
    const base = kit.messages.m2.text
    const prior = kit.messages.m1.text
    const alphabet = [...'{}[]",:0123456789abcdefABCDEF+/=.@%-\\ \n\tnulltrue\u00e9\ud800']
    let ssbAccepted = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            at: fc.nat(),
            op: fc.constantFrom('replace', 'insert', 'delete'),
            // Half whitespace: ssb-validate accepts whitespace between tokens, so both branches are hit.
            c: fc.oneof(fc.constantFrom(' ', '\n', '\t', '\r'), fc.constantFrom(...alphabet)),
          }),
          { minLength: 1, maxLength: 3 },
        ),
        async (edits) => {
          let text = base
          for (const { at, op, c } of edits) {
            const i = at % (text.length + 1)
            if (op === 'replace') text = text.slice(0, i) + c + text.slice(i + 1)
            else if (op === 'insert') text = text.slice(0, i) + c + text.slice(i)
            else text = text.slice(0, i) + text.slice(i + 1)
          }
          fc.pre(text !== base)
          const store = await FeedStore.open(
            { networkKey: kit.network },
            { adapter: createMemoryAdapter(), ed25519 },
          )
          await store.appendOne(prior)
          const ours = await store.appendOne(text)

          let theirs: string | undefined
          try {
            const msg = JSON.parse(text)
            const state = validate.append(validate.initial(), hmacOf(kit.network), JSON.parse(prior))
            validate.append(state, hmacOf(kit.network), msg)
            theirs = validate.id(msg)
          } catch {
            theirs = undefined
          }
          if (ours.ok) {
            expect(theirs, 'the project accepted what ssb-validate refuses').toBe(ours.value.id)
            expect(messageIdOfText(text)).toBe(ours.value.id)
          } else if (theirs !== undefined) {
            ssbAccepted++
            const e = ours.error
            const reason = e.code === 'INVALID_FIELD' ? `${e.code}:${e.field}` : e.code
            expect(STRICTER_REASONS.has(reason), `refused ${reason}, which ssb-validate accepts`).toBe(true)
          }
        },
      ),
      { numRuns: 500 },
    )
    // Whitespace edits alone give ssb-validate-accepted variants; make sure the run saw some.
    expect(ssbAccepted).toBeGreaterThan(0)
  })
})
