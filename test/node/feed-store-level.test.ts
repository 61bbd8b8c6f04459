import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { openLevelAdapter } from '../../relay/src/store/level-adapter'
import { createNodeBackend } from '../../src/crypto/node'
import { defineFeedStoreContract } from '../contract/feed-store.contract'

let root = ''
let generation = 0
let path = ''

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'blockfin-level-contract-'))
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

defineFeedStoreContract('LevelDB adapter (relay, on disk)', {
  openAdapter: () => openLevelAdapter({ path }),
  reset: async () => {
    if (path) await rm(path, { recursive: true, force: true })
    path = join(root, `db-${generation++}`)
  },
  ed25519: async () => createNodeBackend(),
})
