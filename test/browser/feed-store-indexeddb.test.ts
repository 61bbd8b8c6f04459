import { expect, it } from 'vitest'
import { selectBrowserBackend } from '../../src/crypto/browser'
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
