import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openLevelAdapter } from '../../relay/src/store/level-adapter'
import type { FeedId, MessageId } from '../../src/core/identity/ids'
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

describe('LevelDB adapter: message values', () => {
  const author = `@${'A'.repeat(43)}=.ed25519` as FeedId
  const id = (n: number) => `%${String(n).padStart(43, 'x')}=.sha256` as MessageId
  // Signed texts are pretty-printed JSON: newlines and quotes inside must come back byte for byte.
  const text = (n: number) => JSON.stringify({ sequence: n, memo: 'line\nbreak "quoted" é😀' }, null, 2)

  it('reads values written by earlier versions (JSON {id, text}) beside the current format', async () => {
    const dir = join(root, `legacy-${generation++}`)
    const legacy = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    await legacy.open({ createIfMissing: true })
    for (const n of [1, 2])
      await legacy.put(
        `m!${author}!${String(n).padStart(10, '0')}`,
        JSON.stringify({ id: id(n), text: text(n) }),
      )
    await legacy.put(`h!${author}`, JSON.stringify({ sequence: 2, id: id(2) }))
    await legacy.close()

    const adapter = await openLevelAdapter({ path: dir })
    try {
      expect(await adapter.readHeads()).toEqual([{ author, sequence: 2, id: id(2) }])
      await adapter.commit({
        messages: [{ author, sequence: 3, id: id(3), text: text(3) }],
        heads: [{ author, sequence: 3, id: id(3) }],
        evidence: [],
      })
      expect(await adapter.readMessage(author, 1)).toBe(text(1))
      expect(await adapter.readMessage(author, 3)).toBe(text(3))
      expect(await adapter.readRange(author, 1, 3)).toEqual([text(1), text(2), text(3)])
    } finally {
      await adapter.close()
    }
    const raw = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    await raw.open()
    expect(await raw.get(`m!${author}!${String(3).padStart(10, '0')}`)).toBe(`${id(3)}\n${text(3)}`)
    await raw.close()
  })
})
