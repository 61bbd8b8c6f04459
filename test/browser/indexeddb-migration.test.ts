import { describe, expect, it } from 'vitest'
import { keyPairFromSeed } from '../../src/core/identity/keys'
import { selectBrowserBackend } from '../../src/crypto/browser'
import { FeedStore } from '../../src/store/feed-store'
import { deleteIndexedDbDatabase, openIndexedDbAdapter } from '../../src/store/indexeddb-adapter'
import { createMemoryAdapter } from '../../src/store/memory-adapter'

const NETWORK = new Uint8Array(32).fill(3)
const alice = keyPairFromSeed(new Uint8Array(32).fill(1))

const request = <T>(r: IDBRequest<T>) =>
  new Promise<T>((resolve, reject) => {
    r.onsuccess = () => resolve(r.result)
    r.onerror = () => reject(r.error)
  })

/** Writes a database exactly as schema version 1 laid it out: one record per message. */
async function writeVersion1(name: string, texts: { id: string; text: string; sequence: number }[]) {
  const open = indexedDB.open(name, 1)
  open.onupgradeneeded = () => {
    open.result.createObjectStore('messages')
    open.result.createObjectStore('heads', { keyPath: 'author' })
    open.result.createObjectStore('evidence', { autoIncrement: true })
  }
  const db = await request(open)
  const tx = db.transaction(['messages', 'heads'], 'readwrite')
  for (const m of texts) tx.objectStore('messages').put({ id: m.id, text: m.text }, [alice.id, m.sequence])
  const last = texts.at(-1)!
  tx.objectStore('heads').put({ author: alice.id, sequence: last.sequence, id: last.id })
  await new Promise((resolve) => {
    tx.oncomplete = resolve
  })
  db.close()
}

describe('IndexedDB schema migration', () => {
  it('carries every message of a version-1 database into version 2, and the feed goes on', async () => {
    const ed25519 = await selectBrowserBackend()
    const source = await FeedStore.open({ networkKey: NETWORK }, { adapter: createMemoryAdapter(), ed25519 })
    const published = []
    for (let i = 1; i <= 5; i++) {
      const o = await source.publish(alice, { type: 'post', text: `message ${i} · ✓` }, i)
      if (!o.ok) throw new Error('setup')
      published.push({ id: o.value.id, text: o.value.text, sequence: i })
    }
    const name = 'migration-v1'
    await deleteIndexedDbDatabase(name)
    await writeVersion1(name, published)

    const store = await FeedStore.open(
      { networkKey: NETWORK },
      { adapter: await openIndexedDbAdapter({ name }), ed25519 },
    )
    expect(store.head(alice.id)).toEqual({ sequence: 5, id: published[4]!.id })
    expect(await store.range(alice.id, 1)).toEqual(published.map((p) => p.text))
    expect(await store.get(alice.id, 3)).toBe(published[2]!.text)
    const next = await store.publish(alice, { type: 'post', text: 'after migration' }, 6)
    expect(next.ok && next.value.value.previous).toBe(published[4]!.id)
    expect(await store.range(alice.id, 4, 6)).toHaveLength(3)
    await store.close()
    await deleteIndexedDbDatabase(name)
  })
})
