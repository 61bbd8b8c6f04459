import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { openLevelAdapter } from '../../relay/src/store/level-adapter'
import { type FeedMessage, messageIdOfText } from '../../src/core/feed/message'
import { keyPairFromSeed } from '../../src/core/identity/keys'
import { createNodeBackend } from '../../src/crypto/node'
import { FeedStore } from '../../src/store/feed-store'
import { createMemoryAdapter } from '../../src/store/memory-adapter'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const FIXTURE = fileURLToPath(new URL('./fixtures/append-until-killed.ts', import.meta.url))
const SEED = Buffer.alloc(32, 0x5a)
const NETWORK_KEY = Buffer.alloc(32, 0xc3)
const MIN_ACKS = 300
const ROUNDS = 3

interface Run {
  /** The head the child found on disk when it started. */
  start: number | undefined
  acks: Map<number, string>
  signal: NodeJS.Signals | null
  code: number | null
  stderr: string
}

/** Runs the fixture and SIGKILLs it as soon as it has acknowledged MIN_ACKS publishes. */
function appendUntilKilled(dir: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', FIXTURE, dir, SEED.toString('hex'), NETWORK_KEY.toString('hex')],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const acks = new Map<number, string>()
    let pending = ''
    let stderr = ''
    let killed = false
    let start: number | undefined
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk
    })
    child.stdout.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n')
      pending = lines.pop()!
      for (const line of lines) {
        const [word, sequence, id] = line.split(' ')
        if (word === 'ack') acks.set(Number(sequence), id!)
        else if (word === 'start') start = Number(sequence)
      }
      if (!killed && acks.size >= MIN_ACKS) {
        killed = true
        child.kill('SIGKILL')
      }
    })
    child.on('error', reject)
    // 'close' comes after stdout ended: every ack the child wrote before dying has been read.
    child.on('close', (code, signal) => resolve({ start, acks, signal, code, stderr }))
  })
}

let root = ''
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'blockfin-sigkill-'))
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

it(`keeps every acknowledged message of a LevelDB store through ${ROUNDS} SIGKILLs`, async () => {
  const dir = join(root, 'feeds')
  const keys = keyPairFromSeed(SEED)
  const ed25519 = createNodeBackend()
  const acknowledged = new Map<number, string>()
  let previousHead = 0

  for (let round = 1; round <= ROUNDS; round++) {
    const run = await appendUntilKilled(dir)
    expect(run.stderr).toBe('')
    expect({ round, signal: run.signal, code: run.code }).toEqual({ round, signal: 'SIGKILL', code: null })
    expect(run.acks.size).toBeGreaterThanOrEqual(MIN_ACKS)
    // Each round continues the feed from the head the previous crash left on disk.
    expect(run.start).toBe(previousHead)
    expect(Math.min(...run.acks.keys())).toBeGreaterThan(previousHead)
    for (const [sequence, id] of run.acks) acknowledged.set(sequence, id)

    const store = await FeedStore.open(
      { networkKey: NETWORK_KEY },
      { adapter: await openLevelAdapter({ path: dir }), ed25519 },
    )
    try {
      const head = store.head(keys.id)!
      expect(head.sequence).toBeGreaterThanOrEqual(Math.max(...acknowledged.keys()))
      const texts = await store.range(keys.id, 1)
      // No gap: the whole chain up to the head is there.
      expect(texts).toHaveLength(head.sequence)
      for (const [sequence, id] of acknowledged) {
        const text = texts[sequence - 1]
        expect(text && (JSON.parse(text) as FeedMessage).sequence).toBe(sequence)
        expect(await store.get(keys.id, sequence)).toBe(text)
        expect(text && messageIdOfText(text)).toBe(id)
      }
      // Every stored message re-validates (canonical bytes, signature, sequence, previous) in a fresh store.
      const copy = await FeedStore.open(
        { networkKey: NETWORK_KEY },
        { adapter: createMemoryAdapter(), ed25519 },
      )
      const outcomes = await copy.append(texts)
      expect(outcomes.filter((o) => !o.ok)).toEqual([])
      expect(copy.head(keys.id)).toEqual(head)
      previousHead = head.sequence
    } finally {
      await store.close()
    }
  }
}, 180_000)
