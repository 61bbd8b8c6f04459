import { describe, expect, it } from 'vitest'
import { decodeMessage } from '../../src/core/feed/decode'
import { type ForkEvidence, verifyForkEvidence } from '../../src/core/feed/evidence'
import {
  createMessage,
  type FeedHead,
  type MessageContent,
  type VerifiedMessage,
} from '../../src/core/feed/message'
import type { FeedId } from '../../src/core/identity/ids'
import { type KeyPair, keyPairFromSeed } from '../../src/core/identity/keys'
import { createNodeBackend } from '../../src/crypto/node'
import type { CommitBatch, FeedStorageAdapter } from '../../src/store/adapter'
import { type AppendOutcome, FeedStore, type FeedStoreDeps } from '../../src/store/feed-store'
import { createMemoryAdapter, MemoryDisk } from '../../src/store/memory-adapter'

const ed25519 = createNodeBackend()
const NETWORK = Uint8Array.from({ length: 32 }, (_, i) => i + 100)
const OTHER_NETWORK = Uint8Array.from({ length: 32 }, (_, i) => 255 - i)
const alice = keyPairFromSeed(new Uint8Array(32).fill(1))
const bob = keyPairFromSeed(new Uint8Array(32).fill(2))
const carol = keyPairFromSeed(new Uint8Array(32).fill(3))

/**
 * The memory adapter, instrumented: counts commits, and can be told to fail a commit (throw) or
 * to hang in one forever before writing anything (a process that dies mid-write).
 */
function instrumented(disk: MemoryDisk) {
  const inner = createMemoryAdapter(disk)
  const control = { commits: 0, fail: false, hang: false, batches: [] as CommitBatch[] }
  const adapter: FeedStorageAdapter = {
    ...inner,
    async commit(batch) {
      if (control.fail) throw new Error('disk full')
      if (control.hang) return new Promise<void>(() => {})
      control.commits++
      control.batches.push(batch)
      return inner.commit(batch)
    },
  }
  return { adapter, control }
}

async function openStore(
  disk = new MemoryDisk(),
  options: {
    networkKey?: Uint8Array | null
    maxBatch?: number
    isKnownAuthor?: FeedStoreDeps['isKnownAuthor']
  } = {},
) {
  const { adapter, control } = instrumented(disk)
  const store = await FeedStore.open(
    {
      networkKey: options.networkKey === undefined ? NETWORK : options.networkKey,
      maxBatch: options.maxBatch,
    },
    { adapter, ed25519, isKnownAuthor: options.isKnownAuthor },
  )
  return { store, disk, control }
}

/** Signs the next message after `head` without any store. */
async function sign(keys: KeyPair, head: FeedHead | null, content: MessageContent, networkKey = NETWORK) {
  const m = await createMessage({ keys, head, content, timestamp: 1_700_000_000_000, networkKey }, ed25519)
  if (!m.ok) throw new Error(`createMessage failed: ${m.error.code}`)
  return m.value
}

/** A feed of n messages, signed outside any store. */
async function chain(keys: KeyPair, n: number, networkKey = NETWORK, tag = 'm'): Promise<VerifiedMessage[]> {
  const out: VerifiedMessage[] = []
  let head: FeedHead | null = null
  for (let i = 1; i <= n; i++) {
    const m = await sign(keys, head, { type: 'post', text: `${tag}${i}` }, networkKey)
    out.push(m)
    head = { sequence: i, id: m.id }
  }
  return out
}

const headOf = (m: VerifiedMessage): FeedHead => ({ sequence: m.value.sequence, id: m.id })
const codes = (outcomes: AppendOutcome[]) => outcomes.map((o) => (o.ok ? 'ok' : o.error.code))

async function expectNotStored(
  store: FeedStore,
  author: FeedId,
  head: FeedHead | undefined,
  texts: string[],
) {
  expect(store.head(author)).toEqual(head)
  expect(await store.range(author, 1)).toEqual(texts)
  expect(await store.range(author, (head?.sequence ?? 0) + 1)).toEqual([])
}

describe('FeedStore: own feed', () => {
  it('publishes a hash-linked chain: sequence 1..n, each previous the id of the one before', async () => {
    const { store } = await openStore()
    const outcomes: AppendOutcome[] = []
    for (let i = 1; i <= 5; i++) outcomes.push(await store.publish(alice, { type: 'post', n: i }, 1000 + i))
    expect(codes(outcomes)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok'])
    const messages = outcomes.map((o) => (o.ok ? o.value : undefined)!)
    messages.forEach((m, i) => {
      expect(m.value.author).toBe(alice.id)
      expect(m.value.sequence).toBe(i + 1)
      expect(m.value.previous).toBe(i === 0 ? null : messages[i - 1]!.id)
      expect(m.value.content).toEqual({ type: 'post', n: i + 1 })
    })
    expect(store.head(alice.id)).toEqual(headOf(messages[4]!))
    expect(store.vectorClock()).toEqual(new Map([[alice.id, headOf(messages[4]!)]]))
    expect(await store.range(alice.id, 1)).toEqual(messages.map((m) => m.text))
    expect(await store.range(alice.id, 2, 3)).toEqual([messages[1]!.text, messages[2]!.text])
    expect(await store.get(alice.id, 3)).toBe(messages[2]!.text)
    expect(await store.get(alice.id, 6)).toBeUndefined()
  })

  it('publishes messages that any other node decodes and verifies under the network key', async () => {
    const { store } = await openStore()
    await store.publish(alice, { type: 'post', text: 'héllo 漢字 😀' }, 1)
    const [text] = await store.range(alice.id, 1)
    const decoded = decodeMessage(text, NETWORK)
    expect(decoded.ok).toBe(true)
    if (!decoded.ok) return
    expect(await ed25519.verifyBatch([decoded.value.verify])).toEqual([true])
    const elsewhere = decodeMessage(text, OTHER_NETWORK)
    expect(elsewhere.ok && (await ed25519.verifyBatch([elsewhere.value.verify]))).toEqual([false])
  })

  it('refuses to publish invalid content with a typed error and stores nothing', async () => {
    const { store } = await openStore()
    const outcome = await store.publish(alice, { type: 'x' }, 1)
    expect(outcome).toMatchObject({ ok: false, error: { code: 'INVALID_CONTENT' } })
    const big = await store.publish(alice, { type: 'post', text: 'x'.repeat(9000) }, 1)
    expect(big).toMatchObject({ ok: false, error: { code: 'MESSAGE_TOO_LARGE', limit: 8192 } })
    await expectNotStored(store, alice.id, undefined, [])
  })

  it('group-commits: one append() call of n valid messages is one verify batch and one durable write', async () => {
    const { store, control } = await openStore()
    const feed = await chain(bob, 6)
    const outcomes = await store.append(feed.map((m) => m.text))
    expect(codes(outcomes)).toEqual(feed.map(() => 'ok'))
    expect(control.commits).toBe(1)
    expect(control.batches[0]!.messages.map((m) => m.sequence)).toEqual([1, 2, 3, 4, 5, 6])
    expect(control.batches[0]!.heads).toEqual([{ author: bob.id, ...headOf(feed[5]!) }])
  })

  it('group-commits concurrent publishes too, and never more than maxBatch messages per write', async () => {
    const { store, control } = await openStore(new MemoryDisk(), { maxBatch: 3 })
    const outcomes = await Promise.all(
      Array.from({ length: 7 }, (_, i) => store.publish(alice, { type: 'post', n: i }, i)),
    )
    expect(codes(outcomes)).toEqual(Array(7).fill('ok'))
    expect(outcomes.map((o) => o.ok && o.value.value.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(control.batches.map((b) => b.messages.length)).toEqual([3, 3, 1])
  })
})

describe('FeedStore: replication', () => {
  it('appends another store’s feed exactly as signed: same ids, same head, same texts', async () => {
    const a = await openStore()
    const b = await openStore()
    for (let i = 0; i < 10; i++) await a.store.publish(alice, { type: 'post', n: i }, i)
    const texts = await a.store.range(alice.id, 1)
    const outcomes = await b.store.append(texts)
    expect(codes(outcomes)).toEqual(Array(10).fill('ok'))
    expect(b.store.head(alice.id)).toEqual(a.store.head(alice.id))
    expect(await b.store.range(alice.id, 1)).toEqual(texts)
    // ...and later messages incrementally, from the vector clock.
    for (let i = 10; i < 13; i++) await a.store.publish(alice, { type: 'post', n: i }, i)
    const from = b.store.head(alice.id)!.sequence + 1
    expect(codes(await b.store.append(await a.store.range(alice.id, from)))).toEqual(['ok', 'ok', 'ok'])
    expect(b.store.head(alice.id)).toEqual(a.store.head(alice.id))
  })

  it('rangeVerified gives what decoding the stored texts gives (id, value), for replay', async () => {
    const a = await openStore()
    for (let i = 0; i < 5; i++) await a.store.publish(alice, { type: 'post', n: i, text: `ünïcødé ${i}` }, i)
    const b = await openStore()
    await b.store.append(await a.store.range(alice.id, 1))
    for (const store of [a.store, b.store]) {
      const replayed = await store.rangeVerified(alice.id, 2, 4)
      const decoded = (await store.range(alice.id, 2, 4)).map((t) => {
        const d = decodeMessage(t, NETWORK)
        if (!d.ok) throw new Error(d.error.code)
        return { id: d.value.id, text: d.value.text, value: d.value.value }
      })
      expect(replayed).toEqual(decoded)
      expect(replayed.map((m) => m.value.sequence)).toEqual([2, 3, 4])
    }
  })

  it('replicates several feeds in one interleaved batch', async () => {
    const { store } = await openStore()
    const fa = await chain(alice, 3)
    const fb = await chain(bob, 3)
    const texts = [fa[0], fb[0], fb[1], fa[1], fa[2], fb[2]].map((m) => m!.text)
    expect(codes(await store.append(texts))).toEqual(Array(6).fill('ok'))
    expect(store.head(alice.id)).toEqual(headOf(fa[2]!))
    expect(store.head(bob.id)).toEqual(headOf(fb[2]!))
  })

  it('refuses a feed signed for another network (SIGNATURE_INVALID) and stores nothing', async () => {
    const { store } = await openStore()
    const foreign = await chain(alice, 2, OTHER_NETWORK)
    const outcomes = await store.append(foreign.map((m) => m.text))
    expect(outcomes[0]).toMatchObject({
      ok: false,
      error: { code: 'SIGNATURE_INVALID', author: alice.id, sequence: 1 },
    })
    expect(outcomes[1]).toMatchObject({ ok: false, error: { code: 'SIGNATURE_INVALID', sequence: 2 } })
    await expectNotStored(store, alice.id, undefined, [])
  })

  it('refuses a first message that is not sequence 1 with FEED_GAP (expected 1)', async () => {
    const { store } = await openStore()
    const feed = await chain(alice, 3)
    const outcome = await store.appendOne(feed[2]!.text)
    expect(outcome).toEqual({
      ok: false,
      error: { code: 'FEED_GAP', author: alice.id, expected: 1, sequence: 3 },
    })
    await expectNotStored(store, alice.id, undefined, [])
  })
})

describe('FeedStore: one batch, one outcome per message', () => {
  it('gives each message of a mixed valid/invalid batch its own outcome, in order', async () => {
    const { store, control } = await openStore()
    const feed = await chain(alice, 4)
    const wrongKey = await sign(carol, null, { type: 'post', text: 'carol' }, OTHER_NETWORK)
    const tampered = feed[1]!.text.replace('"text": "m2"', '"text": "m9"')
    const outcomes = await store.append([
      feed[0]!.text, // ok
      '{ not json', // MALFORMED_JSON
      42, // not text at all
      tampered, // SIGNATURE_INVALID
      feed[1]!.text, // ok: the genuine message 2
      wrongKey.text, // SIGNATURE_INVALID (another network)
      feed[3]!.text, // FEED_GAP: 3 is missing
      feed[2]!.text, // ok
      feed[2]!.text, // FEED_DUPLICATE in the same batch
      '[]', // NOT_AN_OBJECT
    ])
    expect(codes(outcomes)).toEqual([
      'ok',
      'MALFORMED_JSON',
      'MALFORMED_JSON',
      'SIGNATURE_INVALID',
      'ok',
      'SIGNATURE_INVALID',
      'FEED_GAP',
      'ok',
      'FEED_DUPLICATE',
      'NOT_AN_OBJECT',
    ])
    expect(outcomes[6]).toMatchObject({ error: { expected: 3, sequence: 4 } })
    expect(outcomes[8]).toMatchObject({ error: { author: alice.id, sequence: 3, id: feed[2]!.id } })
    expect(control.commits).toBe(1)
    expect(await store.range(alice.id, 1)).toEqual(feed.slice(0, 3).map((m) => m.text))
    expect(store.head(carol.id)).toBeUndefined()
  })

  it('refuses a message that follows a rejected one in the same batch with FEED_GAP', async () => {
    const { store } = await openStore()
    const feed = await chain(alice, 3)
    const forged = feed[1]!.text.replace(
      /"signature": "[^"]+"/,
      `"signature": "${'A'.repeat(86)}==.sig.ed25519"`,
    )
    const outcomes = await store.append([feed[0]!.text, forged, feed[2]!.text])
    expect(codes(outcomes)).toEqual(['ok', 'SIGNATURE_INVALID', 'FEED_GAP'])
    expect(outcomes[2]).toMatchObject({ error: { author: alice.id, expected: 2, sequence: 3 } })
    await expectNotStored(store, alice.id, headOf(feed[0]!), [feed[0]!.text])
  })

  it('answers FEED_DUPLICATE for a message already stored and for one repeated within a batch', async () => {
    const { store, control } = await openStore()
    const feed = await chain(alice, 2)
    expect(codes(await store.append([feed[0]!.text, feed[0]!.text]))).toEqual(['ok', 'FEED_DUPLICATE'])
    const commitsBefore = control.commits
    expect(codes(await store.append([feed[0]!.text]))).toEqual(['FEED_DUPLICATE'])
    expect(control.commits).toBe(commitsBefore) // nothing to write
    await expectNotStored(store, alice.id, headOf(feed[0]!), [feed[0]!.text])
  })

  it('refuses a reordered feed (3 before 2) with FEED_GAP, then accepts 2 and 3 in order', async () => {
    const { store } = await openStore()
    const feed = await chain(alice, 3)
    expect(codes(await store.append([feed[0]!.text, feed[2]!.text, feed[1]!.text]))).toEqual([
      'ok',
      'FEED_GAP',
      'ok',
    ])
    expect(codes(await store.append([feed[2]!.text]))).toEqual(['ok'])
    expect(store.head(alice.id)).toEqual(headOf(feed[2]!))
  })
})

describe('FeedStore: forks', () => {
  it('answers FEED_FORK with same-sequence evidence that verifyForkEvidence accepts, and keeps the first message', async () => {
    const { store, disk } = await openStore()
    const feed = await chain(alice, 2)
    const rival = await sign(alice, headOf(feed[0]!), { type: 'post', text: 'rival 2' })
    await store.append(feed.map((m) => m.text))
    expect(store.isForked(alice.id)).toBe(false)

    const outcome = await store.appendOne(rival.text)
    expect(outcome.ok).toBe(false)
    if (outcome.ok || outcome.error.code !== 'FEED_FORK')
      throw new Error(`expected FEED_FORK, got ${codes([outcome])}`)
    const { evidence } = outcome.error
    expect(outcome.error).toMatchObject({ author: alice.id, sequence: 2 })
    expect(evidence).toEqual({
      type: 'blockfin/fork-evidence',
      version: 1,
      kind: 'same-sequence',
      author: alice.id,
      sequence: 2,
      messages: [feed[1]!.text, rival.text],
    })
    expect(await verifyForkEvidence(evidence, NETWORK, ed25519)).toEqual({
      ok: true,
      value: { author: alice.id, sequence: 2 },
    })
    expect(await verifyForkEvidence(evidence, OTHER_NETWORK, ed25519)).toMatchObject({ ok: false })
    expect(store.isForked(alice.id)).toBe(true)
    expect(store.isForked(bob.id)).toBe(false)
    expect(store.evidence()).toEqual([evidence])
    expect(disk.evidence).toEqual([evidence])
    await expectNotStored(
      store,
      alice.id,
      headOf(feed[1]!),
      feed.map((m) => m.text),
    )
  })

  it('records the evidence of one fork once, however often the rival message arrives', async () => {
    const { store, disk } = await openStore()
    const feed = await chain(alice, 2)
    const rival = await sign(alice, headOf(feed[0]!), { type: 'post', text: 'rival 2' })
    await store.append(feed.map((m) => m.text))
    expect(codes(await store.append([rival.text, rival.text]))).toEqual(['FEED_FORK', 'FEED_FORK'])
    expect(codes(await store.append([rival.text]))).toEqual(['FEED_FORK'])
    expect(store.evidence()).toHaveLength(1)
    expect(disk.evidence).toHaveLength(1)
  })

  it('persists fork evidence: a store reopened on the same disk still knows the author forked', async () => {
    const disk = new MemoryDisk()
    const first = await openStore(disk)
    const feed = await chain(alice, 2)
    const rival = await sign(alice, headOf(feed[0]!), { type: 'post', text: 'rival 2' })
    await first.store.append([...feed.map((m) => m.text), rival.text])
    const evidence = first.store.evidence()
    await first.store.close()

    const second = await openStore(disk)
    expect(second.store.isForked(alice.id)).toBe(true)
    expect(second.store.evidence()).toEqual(evidence)
    // The same rival again adds no second record.
    expect(codes(await second.store.append([rival.text]))).toEqual(['FEED_FORK'])
    expect(second.store.evidence()).toHaveLength(1)
    expect(disk.evidence).toHaveLength(1)
  })

  it('answers FEED_FORK with previous-mismatch evidence when the next message links to a rival history', async () => {
    const { store } = await openStore()
    const ours = await sign(alice, null, { type: 'post', text: 'ours 1' })
    const theirs = await chain(alice, 2, NETWORK, 'theirs')
    await store.appendOne(ours.text)
    const outcome = await store.appendOne(theirs[1]!.text)
    if (outcome.ok || outcome.error.code !== 'FEED_FORK')
      throw new Error(`expected FEED_FORK, got ${codes([outcome])}`)
    expect(outcome.error.sequence).toBe(2)
    expect(outcome.error.evidence).toMatchObject({
      kind: 'previous-mismatch',
      author: alice.id,
      sequence: 1,
      messages: [ours.text, theirs[1]!.text],
    })
    expect((await verifyForkEvidence(outcome.error.evidence, NETWORK, ed25519)).ok).toBe(true)
    expect(store.isForked(alice.id)).toBe(true)
    await expectNotStored(store, alice.id, headOf(ours), [ours.text])
  })

  it('evidence that proves nothing is refused by verifyForkEvidence (EVIDENCE_INVALID)', async () => {
    const feed = await chain(alice, 2)
    const rival2 = await sign(alice, headOf(feed[0]!), { type: 'post', text: 'rival 2' })
    const bobs = await chain(bob, 2)
    const good: ForkEvidence = {
      type: 'blockfin/fork-evidence',
      version: 1,
      kind: 'same-sequence',
      author: alice.id,
      sequence: 2,
      messages: [feed[1]!.text, rival2.text],
    }
    expect((await verifyForkEvidence(good, NETWORK, ed25519)).ok).toBe(true)
    const bad: [string, ForkEvidence][] = [
      ['the same message twice', { ...good, messages: [feed[1]!.text, feed[1]!.text] }],
      [
        'consecutive honest messages as same-sequence',
        { ...good, sequence: 1, messages: [feed[0]!.text, feed[1]!.text] },
      ],
      [
        'an honest link as previous-mismatch',
        { ...good, kind: 'previous-mismatch', sequence: 1, messages: [feed[0]!.text, feed[1]!.text] },
      ],
      ['messages of another author', { ...good, messages: [feed[1]!.text, bobs[1]!.text] }],
      ['accusing the wrong author', { ...good, author: bob.id }],
      ['the wrong sequence', { ...good, sequence: 1 }],
      [
        'a tampered message',
        { ...good, messages: [feed[1]!.text, rival2.text.replace('rival 2', 'rival 3')] },
      ],
      ['a message that does not decode', { ...good, messages: [feed[1]!.text, '{'] }],
      ['an unknown kind', { ...good, kind: 'other' as ForkEvidence['kind'] }],
      ['an unknown version', { ...good, version: 2 as 1 }],
    ]
    for (const [why, evidence] of bad) {
      expect(await verifyForkEvidence(evidence, NETWORK, ed25519), why).toMatchObject({
        ok: false,
        error: { code: 'EVIDENCE_INVALID' },
      })
    }
  })

  it('detects a fork between two new messages of one batch: the first is stored, the second is evidence', async () => {
    const { store, control } = await openStore()
    const m1 = await sign(alice, null, { type: 'post', text: 'a' })
    const rival1 = await sign(alice, null, { type: 'post', text: 'b' })
    const outcomes = await store.append([m1.text, rival1.text])
    expect(codes(outcomes)).toEqual(['ok', 'FEED_FORK'])
    expect(control.commits).toBe(1)
    expect(control.batches[0]!.evidence).toHaveLength(1)
    expect(store.evidence()[0]!.messages).toEqual([m1.text, rival1.text])
    expect((await verifyForkEvidence(store.evidence()[0]!, NETWORK, ed25519)).ok).toBe(true)
  })
})

describe('FeedStore: registry of authors', () => {
  it('refuses messages by authors the registry does not know with UNKNOWN_AUTHOR, and stores none of them', async () => {
    const known = new Set<FeedId>([alice.id])
    const { store } = await openStore(new MemoryDisk(), { isKnownAuthor: (a) => known.has(a) })
    const fa = await chain(alice, 2)
    const fb = await chain(bob, 2)
    const outcomes = await store.append([fa[0]!.text, fb[0]!.text, fa[1]!.text, fb[1]!.text])
    expect(codes(outcomes)).toEqual(['ok', 'UNKNOWN_AUTHOR', 'ok', 'UNKNOWN_AUTHOR'])
    expect(outcomes[1]).toEqual({ ok: false, error: { code: 'UNKNOWN_AUTHOR', author: bob.id } })
    await expectNotStored(store, bob.id, undefined, [])
    expect(store.head(alice.id)).toEqual(headOf(fa[1]!))
    // Once registered, the same messages are accepted.
    known.add(bob.id)
    expect(codes(await store.append(fb.map((m) => m.text)))).toEqual(['ok', 'ok'])
  })
})

describe('FeedStore: durability', () => {
  it('when the adapter commit throws: every outcome is STORE_WRITE_FAILED, heads unchanged, nothing stored, no listener call', async () => {
    const { store, disk, control } = await openStore()
    await store.publish(alice, { type: 'post', n: 0 }, 0)
    const before = store.head(alice.id)
    const heard: VerifiedMessage[][] = []
    store.subscribe((added) => heard.push([...added]))
    const fb = await chain(bob, 2)

    control.fail = true
    const outcomes = await Promise.all([
      store.publish(alice, { type: 'post', n: 1 }, 1),
      store.append(fb.map((m) => m.text)),
    ])
    const flat = [outcomes[0], ...outcomes[1]]
    expect(codes(flat)).toEqual(['STORE_WRITE_FAILED', 'STORE_WRITE_FAILED', 'STORE_WRITE_FAILED'])
    expect(flat[0]).toMatchObject({ error: { reason: 'disk full' } })
    expect(store.head(alice.id)).toEqual(before)
    expect(store.head(bob.id)).toBeUndefined()
    expect([...disk.messages.keys()]).toHaveLength(1)
    expect(disk.heads.get(alice.id)).toMatchObject(before!)
    expect(heard).toEqual([])

    // The store is not wedged: once the disk recovers the same work succeeds.
    control.fail = false
    expect(codes([await store.publish(alice, { type: 'post', n: 1 }, 1)])).toEqual(['ok'])
    expect(codes(await store.append(fb.map((m) => m.text)))).toEqual(['ok', 'ok'])
    expect(store.head(alice.id)?.sequence).toBe(2)
  })

  it('when the commit throws, messages refused for their own reason keep that reason', async () => {
    const { store, control } = await openStore()
    const feed = await chain(alice, 3)
    control.fail = true
    const outcomes = await store.append([feed[0]!.text, '{', feed[2]!.text])
    expect(codes(outcomes)).toEqual(['STORE_WRITE_FAILED', 'MALFORMED_JSON', 'FEED_GAP'])
  })

  it('after a simulated crash, a store reopened on the same disk holds exactly the acknowledged messages', async () => {
    const disk = new MemoryDisk()
    const first = await openStore(disk)
    const acknowledged: VerifiedMessage[] = []
    for (let i = 0; i < 4; i++) {
      const o = await first.store.publish(alice, { type: 'post', n: i }, i)
      if (o.ok) acknowledged.push(o.value)
    }
    const fb = await chain(bob, 3)
    for (const o of await first.store.append(fb.slice(0, 2).map((m) => m.text)))
      if (o.ok) acknowledged.push(o.value)
    // The process dies while the next batch is being written: it is never acknowledged.
    first.control.hang = true
    let settled = false
    void Promise.all([
      first.store.publish(alice, { type: 'post', n: 99 }, 99),
      first.store.appendOne(fb[2]!.text),
    ]).then(() => {
      settled = true
    })
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(settled).toBe(false)

    const second = await openStore(disk)
    const stored = [...(await second.store.range(alice.id, 1)), ...(await second.store.range(bob.id, 1))]
    expect(stored).toEqual(acknowledged.map((m) => m.text))
    expect(second.store.head(alice.id)).toEqual(headOf(acknowledged[3]!))
    expect(second.store.head(bob.id)).toEqual(headOf(fb[1]!))
    // It carries on from there: the next message extends the acknowledged head.
    const next = await second.store.publish(alice, { type: 'post', n: 4 }, 4)
    expect(next.ok && next.value.value).toMatchObject({ sequence: 5, previous: acknowledged[3]!.id })
    expect(codes([await second.store.appendOne(fb[2]!.text)])).toEqual(['ok'])
  })
})

describe('FeedStore: subscribe and close', () => {
  it('tells each listener, after each durable commit, exactly the messages it added, in order', async () => {
    const { store, disk } = await openStore()
    const heard: string[][] = []
    const onDiskWhenHeard: number[] = []
    const unsubscribe = store.subscribe((added) => {
      heard.push(added.map((m) => m.text))
      onDiskWhenHeard.push(disk.messages.size)
    })
    const feed = await chain(bob, 3)
    await store.append([feed[0]!.text, 'garbage', feed[1]!.text, feed[1]!.text])
    const mine = await store.publish(alice, { type: 'post' }, 1)
    await store.append([feed[0]!.text]) // only a duplicate: nothing added, no call
    expect(heard).toEqual([[feed[0]!.text, feed[1]!.text], [mine.ok ? mine.value.text : '']])
    expect(onDiskWhenHeard).toEqual([2, 3])
    unsubscribe()
    await store.appendOne(feed[2]!.text)
    expect(heard).toHaveLength(2)
  })

  it('keeps going when a listener throws: the batch stays acknowledged and later appends are answered', async () => {
    const { store } = await openStore()
    const unsubscribe = store.subscribe(() => {
      throw new Error('a listener bug')
    })
    const first = store.publish(alice, { type: 'post', n: 1 }, 1)
    const second = store.publish(alice, { type: 'post', n: 2 }, 2)
    expect(codes([await first, await second])).toEqual(['ok', 'ok'])
    const third = await store.publish(alice, { type: 'post', n: 3 }, 3)
    expect(codes([third])).toEqual(['ok'])
    unsubscribe()
    expect(store.head(alice.id)?.sequence).toBe(3)
  })

  it('answers STORE_CLOSED to every call after close, and finishes work accepted before it', async () => {
    const { store, disk } = await openStore()
    const pending = store.publish(alice, { type: 'post' }, 1)
    await store.close()
    expect((await pending).ok).toBe(true)
    expect(disk.messages.size).toBe(1)
    const feed = await chain(bob, 1)
    expect(await store.publish(alice, { type: 'post' }, 2)).toEqual({
      ok: false,
      error: { code: 'STORE_CLOSED' },
    })
    expect(await store.appendOne(feed[0]!.text)).toEqual({ ok: false, error: { code: 'STORE_CLOSED' } })
    expect(await store.append([feed[0]!.text, 'x'])).toEqual([
      { ok: false, error: { code: 'STORE_CLOSED' } },
      { ok: false, error: { code: 'STORE_CLOSED' } },
    ])
    expect(disk.messages.size).toBe(1)
  })
})
