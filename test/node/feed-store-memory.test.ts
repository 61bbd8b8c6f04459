import { createNodeBackend } from '../../src/crypto/node'
import { createMemoryAdapter, MemoryDisk } from '../../src/store/memory-adapter'
import { defineFeedStoreContract } from '../contract/feed-store.contract'

let disk = new MemoryDisk()

defineFeedStoreContract('memory adapter (Node)', {
  openAdapter: async () => createMemoryAdapter(disk),
  reset: async () => {
    disk = new MemoryDisk()
  },
  ed25519: async () => createNodeBackend(),
})
