import { expect, it } from 'vitest'
import { keyPairFromSeed } from '../../src/core/identity/keys'
import { selectBrowserBackend } from '../../src/crypto/browser'
import { FeedStore } from '../../src/store/feed-store'
import { deleteIndexedDbDatabase, openIndexedDbAdapter } from '../../src/store/indexeddb-adapter'
import { defineFeedStoreContract } from '../contract/feed-store.contract'

const name = `blockfin-feed-store-contract-${crypto.randomUUID()}`

defineFeedStoreContract('IndexedDB adapter (Chromium)', {
  openAdapter: () => openIndexedDbAdapter({ name }),
  reset: () => deleteIndexedDbDatabase(name),
  ed25519: selectBrowserBackend,
})

it('runs on the WebCrypto backend', async () => {
  expect((await selectBrowserBackend()).name).toBe('webcrypto')
})

it('answers STORE_WRITE_FAILED, not a hang, when another tab deletes the database', async () => {
  const own = `blockfin-feed-store-deleted-${crypto.randomUUID()}`
  const ed25519 = await selectBrowserBackend()
  const store = await FeedStore.open(
    { networkKey: null },
    { adapter: await openIndexedDbAdapter({ name: own }), ed25519 },
  )
  const keys = keyPairFromSeed(crypto.getRandomValues(new Uint8Array(32)))
  const first = await store.publish(keys, { type: 'test', n: 1 }, 1)
  if (!first.ok) throw new Error(first.error.code)
  // The adapter steps aside (closes) when a delete or a newer schema version waits for it.
  await deleteIndexedDbDatabase(own)
  expect(await store.publish(keys, { type: 'test', n: 2 }, 2)).toMatchObject({
    ok: false,
    error: { code: 'STORE_WRITE_FAILED' },
  })
  expect(await store.appendOne(first.value.text)).toMatchObject({
    ok: false,
    error: { code: 'STORE_WRITE_FAILED' },
  })
  await store.close()
})
