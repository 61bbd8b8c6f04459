import { describe, expect, it } from 'vitest'
import { verifyForkEvidence } from '../../src/core/feed/evidence'
import { createMessage, messageIdOfText } from '../../src/core/feed/message'
import { keyPairFromSeed } from '../../src/core/identity/keys'
import { createNodeBackend } from '../../src/crypto/node'
import type { FeedStorageAdapter } from '../../src/store/adapter'
import { FeedStore } from '../../src/store/feed-store'
import { createMemoryAdapter, MemoryDisk } from '../../src/store/memory-adapter'

const ed25519 = createNodeBackend()
const NETWORK = new Uint8Array(32).fill(9)
const alice = keyPairFromSeed(new Uint8Array(32).fill(1))

/** A disk that writes the batch and then reports failure (an fsync error after the data landed). */
function writesThenThrows(disk: MemoryDisk) {
  const inner = createMemoryAdapter(disk)
  const control = { failAfterWrite: false }
  const adapter: FeedStorageAdapter = {
    ...inner,
    async commit(batch) {
      await inner.commit(batch)
      if (control.failAfterWrite) throw new Error('fsync failed')
    },
  }
  return { adapter, control }
}

describe('FeedStore: recovery after a failed write', () => {
  it('never signs one sequence twice when a write that reported failure had landed', async () => {
    const disk = new MemoryDisk()
    const { adapter, control } = writesThenThrows(disk)
    const store = await FeedStore.open({ networkKey: NETWORK }, { adapter, ed25519 })
    expect((await store.publish(alice, { type: 'post', n: 1 }, 1)).ok).toBe(true)
    control.failAfterWrite = true
    const failed = await store.publish(alice, { type: 'post', n: 2 }, 2)
    expect(failed.ok ? 'ok' : failed.error.code).toBe('STORE_WRITE_FAILED')
    control.failAfterWrite = false
    const next = await store.publish(alice, { type: 'post', n: 3 }, 3)
    // Sequence 2 is on disk although unacknowledged: the next message must be 3 and link to it.
    expect(next.ok && next.value.value.sequence).toBe(3)
    const texts = await store.range(alice.id, 1)
    expect(texts.map((t) => JSON.parse(t).sequence)).toEqual([1, 2, 3])
    expect(JSON.parse(texts[2]!).previous).toBe(messageIdOfText(texts[1]!))
    const replica = await FeedStore.open({ networkKey: NETWORK }, { adapter: createMemoryAdapter(), ed25519 })
    const outcomes = await replica.append(texts)
    expect(outcomes.every((o) => o.ok)).toBe(true)
  })

  it('answers get and range with nothing for sequences that are not positive integers', async () => {
    const store = await FeedStore.open({ networkKey: NETWORK }, { adapter: createMemoryAdapter(), ed25519 })
    await store.publish(alice, { type: 'post' }, 1)
    expect(await store.get(alice.id, Number.NaN)).toBeUndefined()
    expect(await store.get(alice.id, 0.5)).toBeUndefined()
    expect(await store.get(alice.id, -1)).toBeUndefined()
    expect(await store.get(alice.id, 2)).toBeUndefined()
    expect(await store.range(alice.id, Number.NaN)).toEqual([])
    expect(await store.range(alice.id, 0.5, 1.5)).toHaveLength(1)
  })

  it('keeps answering appends when a subscriber throws', async () => {
    const store = await FeedStore.open({ networkKey: NETWORK }, { adapter: createMemoryAdapter(), ed25519 })
    store.subscribe(() => {
      throw new Error('subscriber bug')
    })
    expect((await store.publish(alice, { type: 'post' }, 1)).ok).toBe(true)
    expect((await store.publish(alice, { type: 'post' }, 2)).ok).toBe(true)
    expect(store.head(alice.id)?.sequence).toBe(2)
  })
})

describe('fork evidence from other nodes', () => {
  it('answers EVIDENCE_INVALID, never throws, for records of the wrong shape', async () => {
    for (const bad of [
      null,
      42,
      'x',
      {},
      { messages: 'no' },
      { author: '@a', sequence: 1, messages: [1, 2] },
    ]) {
      const r = await verifyForkEvidence(bad, NETWORK, ed25519)
      expect(r.ok ? 'ok' : r.error.code).toBe('EVIDENCE_INVALID')
    }
  })
})

describe('forks found in a batch whose write fails', () => {
  it('answers STORE_WRITE_FAILED, not FEED_FORK, since the evidence was not stored', async () => {
    const disk = new MemoryDisk()
    const inner = createMemoryAdapter(disk)
    let fail = false
    const adapter: FeedStorageAdapter = {
      ...inner,
      async commit(batch) {
        if (fail) throw new Error('disk gone')
        return inner.commit(batch)
      },
    }
    const store = await FeedStore.open({ networkKey: NETWORK }, { adapter, ed25519 })
    expect((await store.publish(alice, { type: 'post', n: 1 }, 1)).ok).toBe(true)
    const rival = await createMessage(
      { keys: alice, head: null, content: { type: 'post', n: 2 }, timestamp: 2, networkKey: NETWORK },
      ed25519,
    )
    if (!rival.ok) throw new Error('setup')
    fail = true
    const r = await store.appendOne(rival.value.text)
    expect(r.ok ? 'ok' : r.error.code).toBe('STORE_WRITE_FAILED')
    expect(store.isForked(alice.id)).toBe(false)
    fail = false
    const again = await store.appendOne(rival.value.text)
    expect(again.ok ? 'ok' : again.error.code).toBe('FEED_FORK')
    expect(store.isForked(alice.id)).toBe(true)
  })
})
