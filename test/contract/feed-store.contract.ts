import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { Ed25519Backend } from '../../src/core/crypto/ed25519'
import { utf8Encode } from '../../src/core/encoding/bytes'
import type { FeedErrorCode } from '../../src/core/feed/errors'
import { type ForkEvidence, verifyForkEvidence } from '../../src/core/feed/evidence'
import {
  createMessage,
  type FeedHead,
  type FeedMessage,
  type MessageContent,
  messageIdOfText,
  type VerifiedMessage,
} from '../../src/core/feed/message'
import type { FeedId, MessageId } from '../../src/core/identity/ids'
import { type KeyPair, keyPairFromSeed } from '../../src/core/identity/keys'
import type { FeedStorageAdapter, MessageRecord } from '../../src/store/adapter'
import { type AppendOutcome, FeedStore } from '../../src/store/feed-store'
import { createMemoryAdapter } from '../../src/store/memory-adapter'

export interface FeedStoreContractEnv {
  /** Opens the storage under test; every call reopens the SAME storage (a close + open is a restart). */
  openAdapter(): Promise<FeedStorageAdapter>
  /** Wipes the storage. Called with no adapter open. */
  reset(): Promise<void>
  ed25519(): Promise<Ed25519Backend>
}

const NETWORK_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff)
const OTHER_NETWORK_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 53 + 5) & 0xff)

const keysFor = (n: number): KeyPair =>
  keyPairFromSeed(Uint8Array.from({ length: 32 }, (_, i) => (n * 31 + i) & 0xff))

const unwrap = (outcome: AppendOutcome): VerifiedMessage => {
  if (!outcome.ok) throw new Error(`expected ok, got ${JSON.stringify(outcome.error)}`)
  return outcome.value
}
const codeOf = (outcome: AppendOutcome): FeedErrorCode | string => (outcome.ok ? 'ok' : outcome.error.code)
const parse = (text: string) => JSON.parse(text) as FeedMessage

const fakeMessageId = (n: number): MessageId =>
  `%${String(n).padStart(10, '0').padEnd(43, 'A')}=.sha256` as MessageId

/**
 * The one contract every FeedStorageAdapter passes, exercised through FeedStore (the only thing
 * that writes to an adapter) plus a few adapter-level checks. Runs unchanged in Node and Chromium.
 */
export function defineFeedStoreContract(name: string, env: FeedStoreContractEnv): void {
  describe(`FeedStore contract: ${name}`, () => {
    let ed25519: Ed25519Backend
    const openedStores: FeedStore[] = []
    const openedAdapters: FeedStorageAdapter[] = []
    let clock = 1_700_000_000_000

    const now = () => clock++
    const openStore = async (): Promise<FeedStore> => {
      const adapter = await env.openAdapter()
      openedAdapters.push(adapter)
      const store = await FeedStore.open({ networkKey: NETWORK_KEY }, { adapter, ed25519 })
      openedStores.push(store)
      return store
    }
    /** A restart: close (waiting for queued commits) and open the same storage again. */
    const reopen = async (store: FeedStore): Promise<FeedStore> => {
      await store.close()
      return openStore()
    }
    /** Runs `check` on the store, then again on the same storage after a restart. */
    const beforeAndAfterReopen = async (store: FeedStore, check: (s: FeedStore) => Promise<void>) => {
      await check(store)
      await check(await reopen(store))
    }
    const openAdapter = async (): Promise<FeedStorageAdapter> => {
      const adapter = await env.openAdapter()
      openedAdapters.push(adapter)
      return adapter
    }
    const memoryStore = () =>
      FeedStore.open({ networkKey: NETWORK_KEY }, { adapter: createMemoryAdapter(), ed25519 })
    const publish = async (store: FeedStore, keys: KeyPair, content: MessageContent) =>
      unwrap(await store.publish(keys, content, now()))
    const sign = async (
      keys: KeyPair,
      head: FeedHead | null,
      content: MessageContent,
      networkKey = NETWORK_KEY,
    ) => {
      const created = await createMessage({ keys, head, content, timestamp: now(), networkKey }, ed25519)
      if (!created.ok) throw new Error(JSON.stringify(created.error))
      return created.value
    }
    const headOf = (m: VerifiedMessage): FeedHead => ({ sequence: m.value.sequence, id: m.id })

    beforeAll(async () => {
      ed25519 = await env.ed25519()
    })
    beforeEach(async () => {
      await env.reset()
    })
    afterEach(async () => {
      for (const store of openedStores.splice(0)) await store.close()
      for (const adapter of openedAdapters.splice(0)) await adapter.close()
    })
    afterAll(async () => {
      await env.reset()
    })

    it('publishes and reads back the exact text', async () => {
      const store = await openStore()
      const alice = keysFor(1)
      const m = await publish(store, alice, { type: 'test', n: 1 })
      expect(m.value.sequence).toBe(1)
      expect(await store.get(alice.id, 1)).toBe(m.text)
      expect(await store.range(alice.id, 1)).toEqual([m.text])
      expect(store.head(alice.id)).toEqual(headOf(m))
      const again = await reopen(store)
      expect(await again.get(alice.id, 1)).toBe(m.text)
      expect(again.head(alice.id)).toEqual(headOf(m))
    })

    it('serves ranges: partial, clamped, empty and from > to', async () => {
      const store = await openStore()
      const alice = keysFor(2)
      const texts: string[] = []
      for (let i = 1; i <= 12; i++) texts.push((await publish(store, alice, { type: 'test', i })).text)
      await beforeAndAfterReopen(store, async (s) => {
        expect(await s.range(alice.id, 3, 6)).toEqual(texts.slice(2, 6))
        expect(await s.range(alice.id, 9, 11)).toEqual(texts.slice(8, 11))
        expect(await s.range(alice.id, 0, 100)).toEqual(texts)
        expect(await s.range(alice.id, -5)).toEqual(texts)
        expect(await s.range(alice.id, 10)).toEqual(texts.slice(9))
        expect(await s.range(alice.id, 12, 12)).toEqual([texts[11]])
        expect(await s.range(alice.id, 13, 20)).toEqual([])
        expect(await s.range(alice.id, 6, 3)).toEqual([])
        expect(await s.range(keysFor(99).id, 1, 5)).toEqual([])
      })
    })

    it('keeps the heads of many feeds as a vector clock', async () => {
      const store = await openStore()
      const expected = new Map<FeedId, FeedHead>()
      const feeds = Array.from({ length: 30 }, (_, i) => keysFor(100 + i))
      const outcomes = await Promise.all(
        feeds.flatMap((keys, i) =>
          Array.from({ length: i + 1 }, (_, j) => store.publish(keys, { type: 'test', j }, now())),
        ),
      )
      for (const o of outcomes) {
        const m = unwrap(o)
        const current = expected.get(m.value.author)
        if (!current || current.sequence < m.value.sequence) expected.set(m.value.author, headOf(m))
      }
      expect(expected.size).toBe(30)
      for (const [i, keys] of feeds.entries()) expect(expected.get(keys.id)?.sequence).toBe(i + 1)
      expect(store.vectorClock()).toEqual(expected)
      const again = await reopen(store)
      expect(again.vectorClock()).toEqual(expected)
    })

    it('keeps heads, messages and evidence exactly across a reopen', async () => {
      const store = await openStore()
      const feeds = [keysFor(3), keysFor(4), keysFor(5)]
      const texts = new Map<FeedId, string[]>()
      for (let round = 0; round < 7; round++)
        for (const keys of feeds) {
          const m = await publish(store, keys, { type: 'test', round })
          texts.set(keys.id, [...(texts.get(keys.id) ?? []), m.text])
        }
      // A fork by the first feed: a different message at sequence 7.
      const [forker] = feeds as [KeyPair]
      const sixth = parse(texts.get(forker.id)![5]!)
      const fork = await sign(
        forker,
        { sequence: 6, id: messageIdOfText(texts.get(forker.id)![5]!) },
        {
          type: 'test',
          fork: true,
        },
      )
      expect(sixth.sequence).toBe(6)
      expect(codeOf(await store.appendOne(fork.text))).toBe('FEED_FORK')
      const clock = store.vectorClock()
      const evidence = structuredClone(store.evidence())
      expect(evidence).toHaveLength(1)

      const again = await reopen(store)
      expect(again.vectorClock()).toEqual(clock)
      expect(again.evidence()).toEqual(evidence)
      for (const keys of feeds) {
        expect(await again.range(keys.id, 1)).toEqual(texts.get(keys.id))
        for (const [i, text] of texts.get(keys.id)!.entries())
          expect(await again.get(keys.id, i + 1)).toBe(text)
      }
      // And the reopened store keeps extending the same chains.
      const next = await publish(again, forker, { type: 'test', after: 'reopen' })
      expect(next.value.sequence).toBe(8)
      expect(next.value.previous).toBe(clock.get(forker.id)!.id)
    })

    it('makes a batch of 500 concurrent publishes durable', async () => {
      const store = await openStore()
      const alice = keysFor(6)
      const outcomes = await Promise.all(
        Array.from({ length: 500 }, (_, i) => store.publish(alice, { type: 'test', i }, now())),
      )
      const messages = outcomes.map(unwrap)
      expect(messages.map((m) => m.value.sequence)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1))
      const again = await reopen(store)
      expect(again.head(alice.id)).toEqual(headOf(messages[499]!))
      const stored = await again.range(alice.id, 1)
      expect(stored).toHaveLength(500)
      expect(stored).toEqual(messages.map((m) => m.text))
    })

    it('replicates a feed from one store into another and back', async () => {
      const source = await memoryStore()
      const alice = keysFor(7)
      for (let i = 0; i < 40; i++) await publish(source, alice, { type: 'test', i })
      const texts = await source.range(alice.id, 1)

      const store = await openStore()
      // In three pieces, the middle one twice: the repeat is refused as duplicates, nothing else changes.
      expect((await store.append(texts.slice(0, 15))).map(codeOf)).toEqual(Array(15).fill('ok'))
      expect((await store.append(texts.slice(15, 30))).map(codeOf)).toEqual(Array(15).fill('ok'))
      expect((await store.append(texts.slice(15, 30))).map(codeOf)).toEqual(Array(15).fill('FEED_DUPLICATE'))
      expect((await store.append(texts.slice(30))).map(codeOf)).toEqual(Array(10).fill('ok'))
      const again = await reopen(store)
      expect(again.head(alice.id)).toEqual(source.head(alice.id))
      const stored = await again.range(alice.id, 1)
      expect(stored).toEqual(texts)

      const copy = await memoryStore()
      expect((await copy.append(stored)).map(codeOf)).toEqual(Array(40).fill('ok'))
      expect(copy.vectorClock()).toEqual(source.vectorClock())
    })

    it('persists fork evidence and the forked state', async () => {
      const store = await openStore()
      const mallory = keysFor(8)
      const honest = keysFor(9)
      const m1 = await publish(store, mallory, { type: 'test', n: 1 })
      const m2 = await publish(store, mallory, { type: 'test', n: 2 })
      await publish(store, honest, { type: 'test', n: 1 })
      // Same sequence, different message.
      const other2 = await sign(mallory, headOf(m1), { type: 'test', n: 'other 2' })
      // Sequence 3 on top of the other branch: previous is not our sequence 2.
      const other3 = await sign(mallory, headOf(other2), { type: 'test', n: 'other 3' })
      const first = await store.appendOne(other2.text)
      const second = await store.appendOne(other3.text)
      expect(codeOf(first)).toBe('FEED_FORK')
      expect(codeOf(second)).toBe('FEED_FORK')
      // The same proof twice is recorded once.
      expect(codeOf(await store.appendOne(other2.text))).toBe('FEED_FORK')
      expect(store.isForked(mallory.id)).toBe(true)
      const evidence = structuredClone(store.evidence()) as ForkEvidence[]
      expect(evidence.map((e) => [e.kind, e.sequence])).toEqual([
        ['same-sequence', 2],
        ['previous-mismatch', 2],
      ])
      expect(evidence[0]!.messages).toEqual([m2.text, other2.text])
      expect(evidence[1]!.messages).toEqual([m2.text, other3.text])

      const again = await reopen(store)
      expect(again.isForked(mallory.id)).toBe(true)
      expect(again.isForked(honest.id)).toBe(false)
      expect(again.evidence()).toEqual(evidence)
      for (const e of again.evidence())
        expect((await verifyForkEvidence(e, NETWORK_KEY, ed25519)).ok).toBe(true)
      // The stored chain is still ours, not the fork.
      expect(again.head(mallory.id)).toEqual(headOf(m2))
      expect(await again.get(mallory.id, 2)).toBe(m2.text)
      expect(await again.get(mallory.id, 3)).toBeUndefined()
      // Evidence already on disk is not written again after a restart.
      expect(codeOf(await again.appendOne(other2.text))).toBe('FEED_FORK')
      const third = await reopen(again)
      expect(third.evidence()).toEqual(evidence)
    })

    it('never stores bad input: garbage, forged, foreign network, gaps', async () => {
      const store = await openStore()
      const alice = keysFor(10)
      const bob = keysFor(11)
      const m1 = await publish(store, alice, { type: 'test', n: 1 })
      const m2 = await publish(store, alice, { type: 'test', n: 2 })
      const m3 = await sign(alice, headOf(m2), { type: 'test', n: 3 })
      const m4 = await sign(alice, headOf(m3), { type: 'test', n: 4 })
      const tampered = m3.text.replace('"n": 3', '"n": 4')
      const impersonated = await sign({ ...alice, seed: bob.seed }, headOf(m2), { type: 'test', n: 3 })
      const foreign = await sign(alice, headOf(m2), { type: 'test', n: 3 }, OTHER_NETWORK_KEY)
      const reindented = JSON.stringify(JSON.parse(m3.text), null, 4)
      const bobsSecond = await sign(bob, { sequence: 1, id: m1.id }, { type: 'test', n: 2 })
      const cases: [unknown, string][] = [
        ['garbage', 'MALFORMED_JSON'],
        ['', 'MALFORMED_JSON'],
        [42, 'MALFORMED_JSON'],
        [null, 'MALFORMED_JSON'],
        [{ ...m3.value }, 'MALFORMED_JSON'],
        ['[]', 'NOT_AN_OBJECT'],
        ['{"previous":null}', 'MISSING_FIELD'],
        [reindented, 'NON_CANONICAL_ENCODING'],
        [tampered, 'SIGNATURE_INVALID'],
        [impersonated.text, 'SIGNATURE_INVALID'],
        [foreign.text, 'SIGNATURE_INVALID'],
        [m4.text, 'FEED_GAP'],
        [bobsSecond.text, 'FEED_GAP'],
      ]
      expect(tampered).not.toBe(m3.text)
      const outcomes = await store.append(cases.map(([input]) => input))
      expect(outcomes.map(codeOf)).toEqual(cases.map(([, code]) => code))

      await beforeAndAfterReopen(store, async (s) => {
        expect(s.head(alice.id)).toEqual(headOf(m2))
        expect(s.head(bob.id)).toBeUndefined()
        expect([...s.vectorClock().keys()]).toEqual([alice.id])
        expect(await s.get(alice.id, 3)).toBeUndefined()
        expect(await s.get(alice.id, 4)).toBeUndefined()
        expect(await s.get(bob.id, 2)).toBeUndefined()
        expect(await s.range(alice.id, 1, 10)).toEqual([m1.text, m2.text])
        expect(s.evidence()).toEqual([])
        expect(s.isForked(alice.id)).toBe(false)
      })
    })

    it('interleaves many authors, published and replicated', async () => {
      const authors = Array.from({ length: 12 }, (_, i) => keysFor(200 + i))
      const rounds = 20
      // Published: every author's messages queued round-robin at once.
      const store = await openStore()
      const outcomes = await Promise.all(
        Array.from({ length: rounds }, (_, r) =>
          authors.map((keys) => store.publish(keys, { type: 'test', r }, now())),
        ).flat(),
      )
      expect(outcomes.map(codeOf)).toEqual(Array(rounds * authors.length).fill('ok'))
      // Replicated: the same authors' feeds from a source store, interleaved, in uneven chunks.
      const source = await memoryStore()
      const others = Array.from({ length: 12 }, (_, i) => keysFor(300 + i))
      for (let r = 0; r < rounds; r++)
        for (const keys of others) await publish(source, keys, { type: 'test', r })
      const interleaved: string[] = []
      for (let r = 1; r <= rounds; r++)
        for (const keys of others) interleaved.push((await source.get(keys.id, r))!)
      for (let at = 0; at < interleaved.length; at += 37)
        expect((await store.append(interleaved.slice(at, at + 37))).every((o) => o.ok)).toBe(true)

      const again = await reopen(store)
      expect(again.vectorClock().size).toBe(24)
      for (const keys of [...authors, ...others]) {
        const texts = await again.range(keys.id, 1)
        expect(texts).toHaveLength(rounds)
        let previous: MessageId | null = null
        texts.forEach((text, i) => {
          const m = parse(text)
          expect([m.author, m.sequence, m.previous, m.content.r]).toEqual([keys.id, i + 1, previous, i])
          previous = messageIdOfText(text)
        })
        expect(again.head(keys.id)).toEqual({ sequence: rounds, id: previous })
      }
      for (const keys of others) expect(await again.range(keys.id, 1)).toEqual(await source.range(keys.id, 1))
    })

    it('round-trips non-ASCII content byte-exact', async () => {
      const samples = [
        'héllo wörld — ça va?',
        '日本語のテキスト、中文，한국어',
        'emoji 🦊🐢👩‍👩‍👧‍👦 and 𝕏 (astral plane)',
        'العربية עברית (right to left)',
        'a\u0301 e\u0308 (combining marks)',
        'separators \u2028 \u2029 and tab\tnewline\n',
        'control \u0000 \u0001 \u001f \u007f \u0080 \u00ff',
        'lone surrogates x\ud800y \udfff (escaped by JSON.stringify)',
        'non-characters \ufffe \uffff \ufeff',
        '"quotes" \\backslashes\\ /slashes/',
      ]
      const store = await openStore()
      const alice = keysFor(12)
      const published: VerifiedMessage[] = []
      for (const text of samples) published.push(await publish(store, alice, { type: 'test', text }))
      published.push(await publish(store, alice, { type: 'tëst-ключ', 'ключ 🔑': { 値: ['ü', 'ß'] } }))

      await beforeAndAfterReopen(store, async (s) => {
        const stored = await s.range(alice.id, 1)
        expect(stored).toEqual(published.map((m) => m.text))
        for (const [i, m] of published.entries()) {
          const text = (await s.get(alice.id, i + 1))!
          expect(text).toBe(m.text)
          expect(utf8Encode(text)).toEqual(utf8Encode(m.text))
          expect(messageIdOfText(text)).toBe(m.id)
          if (i < samples.length) expect(parse(text).content.text).toBe(samples[i])
        }
        // The stored bytes still verify: a fresh store accepts them all.
        const copy = await memoryStore()
        expect((await copy.append(stored)).map(codeOf)).toEqual(stored.map(() => 'ok'))
      })
    })

    it('answers a typed error, not a hang, when the storage fails under the store', async () => {
      const store = await openStore()
      const alice = keysFor(19)
      const m1 = await publish(store, alice, { type: 'test', n: 1 })
      // The storage goes away under a live store (IndexedDB: another tab upgraded or deleted it).
      await openedAdapters.at(-1)!.close()
      expect(codeOf(await store.publish(alice, { type: 'test', n: 2 }, now()))).toBe('STORE_WRITE_FAILED')
      // A known author's old message: the duplicate check has to read the storage.
      expect(codeOf(await store.appendOne(m1.text))).toBe('STORE_WRITE_FAILED')
      expect(store.head(alice.id)).toEqual(headOf(m1))
    })

    it('serves the newest committed messages from memory, the rest from storage, bounded', async () => {
      const adapter = await openAdapter()
      const reads = { range: 0, message: 0 }
      const counted: FeedStorageAdapter = {
        ...adapter,
        readHeads: () => adapter.readHeads(),
        readEvidence: () => adapter.readEvidence(),
        commit: (batch) => adapter.commit(batch),
        close: () => adapter.close(),
        readRange: (author, from, to) => {
          reads.range++
          return adapter.readRange(author, from, to)
        },
        readMessage: (author, sequence) => {
          reads.message++
          return adapter.readMessage(author, sequence)
        },
      }
      // Four messages per feed, and room for about three feeds' worth of text in all.
      const probe = await sign(keysFor(40), null, { type: 'test', i: 0, feed: 0 })
      const store = await FeedStore.open(
        { networkKey: NETWORK_KEY, tailMessages: 4, tailChars: probe.text.length * 13 },
        { adapter: counted, ed25519 },
      )
      openedStores.push(store)
      const feeds = [40, 41, 42, 43, 44].map(keysFor)
      const texts = new Map<FeedId, string[]>()
      for (const keys of feeds) {
        const own: string[] = []
        for (let i = 1; i <= 6; i++) own.push((await publish(store, keys, { type: 'test', i, feed: 0 })).text)
        texts.set(keys.id, own)
      }
      const newest = feeds.at(-1)!
      // Live replication's reads: the newest messages of a feed just appended to, no storage read.
      expect(await store.range(newest.id, 3, 6)).toEqual(texts.get(newest.id)!.slice(2))
      expect(await store.range(newest.id, 5)).toEqual(texts.get(newest.id)!.slice(4))
      expect(await store.get(newest.id, 6)).toBe(texts.get(newest.id)![5])
      expect(reads).toEqual({ range: 0, message: 0 })
      // Older than the tail, or a feed pushed out by newer ones: storage, with the same answers.
      expect(await store.range(newest.id, 1, 6)).toEqual(texts.get(newest.id))
      expect(await store.range(feeds[0]!.id, 5, 6)).toEqual(texts.get(feeds[0]!.id)!.slice(4))
      expect(await store.get(feeds[0]!.id, 6)).toBe(texts.get(feeds[0]!.id)![5])
      expect(reads).toEqual({ range: 2, message: 1 })
      for (const keys of feeds) expect(await store.range(keys.id, 1)).toEqual(texts.get(keys.id))
      // A write that fails is never served: not stored, not cached.
      await adapter.close()
      expect(codeOf(await store.publish(newest, { type: 'test', i: 7, feed: 0 }, now()))).toBe(
        'STORE_WRITE_FAILED',
      )
      expect(store.head(newest.id)?.sequence).toBe(6)
      expect(await store.range(newest.id, 5, 7)).toEqual(texts.get(newest.id)!.slice(4))
      expect(await store.get(newest.id, 7)).toBeUndefined()
    })

    describe('adapter level', () => {
      const record = (author: FeedId, sequence: number): MessageRecord => ({
        author,
        sequence,
        id: fakeMessageId(sequence),
        text: `message ${sequence} of ${author} · ✓`,
      })

      it('reads ranges in numeric order and stops at the first gap', async () => {
        const x = keysFor(13).id
        const y = keysFor(14).id
        const xs = [1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 99, 100, 101, 2 ** 31 - 1]
        const adapter = await openAdapter()
        await adapter.commit({
          messages: [...xs.map((s) => record(x, s)), ...[1, 2, 3].map((s) => record(y, s))],
          heads: [{ author: x, sequence: 12, id: fakeMessageId(12) }],
          evidence: [],
        })
        const texts = (author: FeedId, from: number, to: number) =>
          Array.from({ length: to - from + 1 }, (_, i) => record(author, from + i).text)
        expect(await adapter.readRange(x, 1, 12)).toEqual(texts(x, 1, 3))
        expect(await adapter.readRange(x, 5, 12)).toEqual(texts(x, 5, 12))
        expect(await adapter.readRange(x, 5, 200)).toEqual(texts(x, 5, 12))
        expect(await adapter.readRange(x, 8, 10)).toEqual(texts(x, 8, 10))
        expect(await adapter.readRange(x, 99, 101)).toEqual(texts(x, 99, 101))
        expect(await adapter.readRange(x, 4, 12)).toEqual([])
        expect(await adapter.readRange(x, 13, 98)).toEqual([])
        expect(await adapter.readRange(x, 12, 5)).toEqual([])
        expect(await adapter.readRange(y, 1, 100)).toEqual(texts(y, 1, 3))
        expect(await adapter.readMessage(x, 2 ** 31 - 1)).toBe(record(x, 2 ** 31 - 1).text)
      })

      it('accepts an empty commit', async () => {
        const x = keysFor(15).id
        const adapter = await openAdapter()
        await adapter.commit({ messages: [], heads: [], evidence: [] })
        expect(await adapter.readHeads()).toEqual([])
        await adapter.commit({
          messages: [record(x, 1)],
          heads: [{ author: x, sequence: 1, id: fakeMessageId(1) }],
          evidence: [],
        })
        await adapter.commit({ messages: [], heads: [], evidence: [] })
        await adapter.close()
        const again = await openAdapter()
        expect(await again.readHeads()).toEqual([{ author: x, sequence: 1, id: fakeMessageId(1) }])
        expect(await again.readMessage(x, 1)).toBe(record(x, 1).text)
        expect(await again.readEvidence()).toEqual([])
      })

      it('returns undefined for a missing message', async () => {
        const x = keysFor(16).id
        const adapter = await openAdapter()
        expect(await adapter.readMessage(x, 1)).toBeUndefined()
        await adapter.commit({
          messages: [record(x, 1), record(x, 3)],
          heads: [{ author: x, sequence: 3, id: fakeMessageId(3) }],
          evidence: [],
        })
        expect(await adapter.readMessage(x, 2)).toBeUndefined()
        expect(await adapter.readMessage(x, 4)).toBeUndefined()
        expect(await adapter.readMessage(keysFor(17).id, 1)).toBeUndefined()
      })

      it('overwrites heads and keeps evidence in commit order across reopens', async () => {
        const x = keysFor(18).id
        const evidence = (n: number): ForkEvidence => ({
          type: 'blockfin/fork-evidence',
          version: 1,
          kind: 'same-sequence',
          author: x,
          sequence: n,
          messages: [`ours ${n}`, `theirs ${n} ✗`],
        })
        let adapter = await openAdapter()
        for (let n = 1; n <= 12; n++) {
          await adapter.commit({
            messages: [record(x, n)],
            heads: [{ author: x, sequence: n, id: fakeMessageId(n) }],
            evidence: n % 4 === 0 ? [evidence(n), evidence(n + 100)] : [evidence(n)],
          })
          if (n % 5 === 0) {
            await adapter.close()
            adapter = await openAdapter()
          }
        }
        await adapter.close()
        adapter = await openAdapter()
        expect(await adapter.readHeads()).toEqual([{ author: x, sequence: 12, id: fakeMessageId(12) }])
        const expected = Array.from({ length: 12 }, (_, i) =>
          (i + 1) % 4 === 0 ? [evidence(i + 1), evidence(i + 101)] : [evidence(i + 1)],
        ).flat()
        expect(await adapter.readEvidence()).toEqual(expected)
      })
    })
  })
}
