/**
 * The store's pipeline with writes held: received messages are accepted (every check passed)
 * before their durable write, later messages of a feed are checked against them meanwhile, and
 * a write that fails takes down exactly what was checked against it. Acknowledgement still waits
 * for the disk.
 */
import { describe, expect, it } from 'vitest'
import type { VerifiedMessage } from '../../src/core/feed/message'
import { keyPairFromSeed } from '../../src/core/identity/keys'
import { createNodeBackend } from '../../src/crypto/node'
import type { CommitBatch, FeedStorageAdapter } from '../../src/store/adapter'
import { FeedStore } from '../../src/store/feed-store'
import { createMemoryAdapter, MemoryDisk } from '../../src/store/memory-adapter'

const ed25519 = createNodeBackend()
const NETWORK = new Uint8Array(32).fill(9)
const alice = keyPairFromSeed(new Uint8Array(32).fill(1))
const bob = keyPairFromSeed(new Uint8Array(32).fill(2))

/** An adapter whose writes wait until released, and fail when told to. */
function heldWrites(disk = new MemoryDisk()) {
  const inner = createMemoryAdapter(disk)
  const writes: { batch: CommitBatch; release: (fail?: boolean) => void }[] = []
  const adapter: FeedStorageAdapter = {
    ...inner,
    commit(batch) {
      return new Promise<void>((resolve, reject) => {
        writes.push({
          batch,
          release: (fail) => {
            if (fail) reject(new Error('disk full'))
            else inner.commit(batch).then(resolve, reject)
          },
        })
      })
    },
  }
  return { adapter, writes }
}

/** Signed messages of `keys`' feed, 1..n. */
async function feedOf(keys: typeof alice, n: number): Promise<string[]> {
  const source = await FeedStore.open({ networkKey: NETWORK }, { adapter: createMemoryAdapter(), ed25519 })
  const texts: string[] = []
  for (let i = 1; i <= n; i++) {
    const o = await source.publish(keys, { type: 'post', n: i }, i)
    if (!o.ok) throw new Error(o.error.code)
    texts.push(o.value.text)
  }
  return texts
}

const until = async (condition: () => boolean) => {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 5))
  expect(condition()).toBe(true)
}

describe('FeedStore: accepted before durable', () => {
  it('hands a received message to accept listeners before its write, and answers only after it', async () => {
    const { adapter, writes } = heldWrites()
    const store = await FeedStore.open({ networkKey: NETWORK }, { adapter, ed25519 })
    const accepted: VerifiedMessage[] = []
    const durable: VerifiedMessage[] = []
    store.subscribeAccepted((ms) => accepted.push(...ms))
    store.subscribe((ms) => durable.push(...ms))
    const [m1] = await feedOf(alice, 1)
    let answered = false
    const appended = store.append([m1]).then((o) => {
      answered = true
      return o
    })
    await until(() => accepted.length === 1 && writes.length === 1)
    expect(accepted[0]!.text).toBe(m1)
    expect(answered).toBe(false)
    expect(durable).toHaveLength(0)
    expect(store.head(alice.id)).toBeUndefined() // the vector clock says only what is durable
    writes[0]!.release()
    expect((await appended).every((o) => o.ok)).toBe(true)
    expect(durable.map((m) => m.text)).toEqual([m1])
    expect(store.head(alice.id)?.sequence).toBe(1)
  })

  it("checks a feed's next message against one still being written, and writes what gathered meanwhile at once", async () => {
    const { adapter, writes } = heldWrites()
    const store = await FeedStore.open({ networkKey: NETWORK }, { adapter, ed25519 })
    const accepted: number[] = []
    store.subscribeAccepted((ms) => accepted.push(...ms.map((m) => m.value.sequence)))
    const texts = await feedOf(alice, 4)
    const first = store.append([texts[0]!])
    await until(() => writes.length === 1)
    const later = [store.append([texts[1]!]), store.append([texts[2]!]), store.append([texts[3]!])]
    // All three are checked (against sequence 1, which is not durable yet) while the write runs.
    await until(() => accepted.length === 4)
    expect(accepted).toEqual([1, 2, 3, 4])
    expect(writes).toHaveLength(1)
    writes[0]!.release()
    await first
    // What gathered during the first write goes in one more.
    await until(() => writes.length === 2)
    expect(writes[1]!.batch.messages.map((m) => m.sequence)).toEqual([2, 3, 4])
    writes[1]!.release()
    for (const o of (await Promise.all(later)).flat()) expect(o.ok).toBe(true)
    expect(store.head(alice.id)?.sequence).toBe(4)
  })

  it('fails what was checked against a write that failed, stores none of it, and accepts it again', async () => {
    const disk = new MemoryDisk()
    const { adapter, writes } = heldWrites(disk)
    const store = await FeedStore.open({ networkKey: NETWORK }, { adapter, ed25519 })
    const accepted: string[] = []
    store.subscribeAccepted((ms) =>
      accepted.push(...ms.map((m) => `${m.value.author === alice.id ? 'a' : 'b'}${m.value.sequence}`)),
    )
    const a = await feedOf(alice, 2)
    const [b1] = await feedOf(bob, 1)
    const first = store.append([a[0]!])
    await until(() => writes.length === 1)
    const second = store.append([a[1]!, b1!])
    await until(() => accepted.length === 3)
    writes[0]!.release(true)
    const [o1] = await first
    const [o2, o3] = await second
    expect(o1!.ok ? 'ok' : o1!.error.code).toBe('STORE_WRITE_FAILED')
    // a2 was checked against a1, which never reached the disk; b1 was to go in a2's write.
    expect(o2!.ok ? 'ok' : o2!.error.code).toBe('STORE_WRITE_FAILED')
    expect(o3!.ok ? 'ok' : o3!.error.code).toBe('STORE_WRITE_FAILED')
    expect(writes).toHaveLength(1)
    expect(store.head(alice.id)).toBeUndefined()
    // Sent again, the same messages are accepted again and stored.
    const again = store.append([...a, b1!])
    await until(() => writes.length === 2)
    writes[1]!.release()
    expect((await again).every((o) => o.ok)).toBe(true)
    expect(accepted).toEqual(['a1', 'a2', 'b1', 'a1', 'a2', 'b1'])
    const reopened = await FeedStore.open(
      { networkKey: NETWORK },
      { adapter: createMemoryAdapter(disk), ed25519 },
    )
    expect(reopened.head(alice.id)?.sequence).toBe(2)
    expect(reopened.head(bob.id)?.sequence).toBe(1)
  })

  it('refuses a fork of a message that is checked but not yet written, with evidence', async () => {
    const { adapter, writes } = heldWrites()
    const store = await FeedStore.open({ networkKey: NETWORK }, { adapter, ed25519 })
    const [m1] = await feedOf(alice, 1)
    const other = await FeedStore.open({ networkKey: NETWORK }, { adapter: createMemoryAdapter(), ed25519 })
    const fork = await other.publish(alice, { type: 'post', n: 'other' }, 7)
    if (!fork.ok) throw new Error(fork.error.code)
    const first = store.append([m1!])
    await until(() => writes.length === 1)
    const second = store.append([fork.value.text])
    writes[0]!.release()
    await first
    await until(() => writes.length === 2)
    writes[1]!.release()
    const [o] = await second
    expect(o!.ok ? 'ok' : o!.error.code).toBe('FEED_FORK')
    expect(store.isForked(alice.id)).toBe(true)
  })

  it('does not hand own publishes to accept listeners: they are followed once durable', async () => {
    const { adapter, writes } = heldWrites()
    const store = await FeedStore.open({ networkKey: NETWORK }, { adapter, ed25519 })
    const accepted: VerifiedMessage[] = []
    store.subscribeAccepted((ms) => accepted.push(...ms))
    const published = store.publish(alice, { type: 'post' }, 1)
    await until(() => writes.length === 1)
    writes[0]!.release()
    expect((await published).ok).toBe(true)
    expect(accepted).toHaveLength(0)
  })

  it('lets a write of received messages wait for more (receivedWriteDelayMs), never one with own messages', async () => {
    const { adapter, writes } = heldWrites()
    const waits: (() => void)[] = []
    const store = await FeedStore.open(
      { networkKey: NETWORK, receivedWriteDelayMs: 20 },
      { adapter, ed25519, wait: () => new Promise<void>((resolve) => waits.push(resolve)) },
    )
    const accepted: number[] = []
    store.subscribeAccepted((ms) => accepted.push(...ms.map((m) => m.value.sequence)))
    const texts = await feedOf(alice, 3)
    const first = store.append([texts[0]!])
    await until(() => waits.length === 1 && accepted.length === 1)
    const second = store.append([texts[1]!, texts[2]!])
    await until(() => accepted.length === 3)
    expect(writes).toHaveLength(0) // still waiting for more
    waits[0]!()
    await until(() => writes.length === 1)
    expect(writes[0]!.batch.messages.map((m) => m.sequence)).toEqual([1, 2, 3])
    writes[0]!.release()
    expect([...(await first), ...(await second)].every((o) => o.ok)).toBe(true)

    // An own publish goes to disk at once, with whatever was received meanwhile.
    const published = store.publish(bob, { type: 'post' }, 1)
    await until(() => writes.length === 2)
    expect(waits).toHaveLength(1)
    writes[1]!.release()
    expect((await published).ok).toBe(true)
  })
})
