/**
 * Network benchmarks, on loopback only, every received message verified by the receiving
 * FeedStore. Each function returns messages per second (and reports its details through `report`
 * when given). Setup (signing the messages, starting processes and browsers) is never timed.
 *
 * - relayToValidator(n): a relay process holding n messages (10 feeds) to a fresh headless
 *   validator process (`npm run validator -- --until-messages`), into LevelDB.
 * - relayToTab(n): the same relay to a Chromium tab's IndexedDB store (the tab's parts driven
 *   directly, bench/network-browser), from the relay connection to the last message stored.
 * - tabCatchUp(n): a new tab of the real app (dist/) opened on a relay holding n messages, from
 *   navigation until its Network panel shows every feed complete (the catch-up time is reported).
 * - tabToTab(n): one tab publishes n messages, another dials it over WebRTC (signaled through a
 *   relay that replicates with neither) and replicates them into IndexedDB.
 *
 * Every tab here is a Chromium of its own with an on-disk profile, so IndexedDB writes reach the
 * disk as in a user's browser (an off-the-record context keeps IndexedDB in memory).
 */
import '../src/node/polyfills'
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'vite'
import { startRelay } from '../relay/src/relay'
import { openLevelAdapter } from '../relay/src/store/level-adapter'
import { keyPairFromSeed } from '../src/core/identity/keys'
import { createNodeBackend, createNodeHasher } from '../src/crypto/node'
import { buildAndServe, launchTabBrowser, type TabBrowser } from './chromium'

const here = fileURLToPath(new URL('.', import.meta.url))
const repo = join(here, '..')

export interface NetworkBenchDetail {
  readonly name: string
  readonly messages: number
  readonly seconds: number
  readonly msgsPerSec: number
  readonly note?: string
}

export type Report = (detail: NetworkBenchDetail) => void

interface RelayInfo {
  readonly url: string
  readonly wsAddr: string
  readonly networkId: string
  readonly networkKey: string
  readonly feeds: Record<string, number>
  readonly child: ChildProcess
  stop(): Promise<void>
}

const FEEDS = 10

/** Creates a relay data directory holding `count` messages over FEEDS feeds (not timed). */
async function seedRelay(dataDir: string, count: number): Promise<void> {
  const started = await startRelay(
    { dataDir, distDir: join(repo, 'dist'), host: '127.0.0.1', port: 0, p2p: false },
    {
      randomBytes: (n) => new Uint8Array(randomBytes(n)),
      now: () => new Date(),
      ed25519: createNodeBackend(),
      hasher: createNodeHasher(),
      openFeedAdapter: openLevelAdapter,
    },
  )
  if (!started.ok) throw new Error(`seed relay: ${started.error.code}`)
  const { store } = started.value
  const authors = Array.from({ length: FEEDS }, () => keyPairFromSeed(new Uint8Array(randomBytes(32))))
  let ts = Date.now()
  for (let i = 0; i < count; i += 2000) {
    const batch = Array.from({ length: Math.min(2000, count - i) }, (_, j) =>
      store.publish(
        authors[(i + j) % FEEDS]!,
        { type: 'blockfin/bench', text: `relay message ${i + j} ${'x'.repeat(160)}` },
        ts++,
      ),
    )
    for (const o of await Promise.all(batch)) if (!o.ok) throw new Error(`seed: ${o.error.code}`)
  }
  await started.value.close()
}

/** Starts a relay process on `dataDir` and waits until its Messagenode follows every feed. */
async function startRelayProcess(dataDir: string, expectFeeds: number): Promise<RelayInfo> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'relay/src/main.ts'], {
    cwd: repo,
    env: { ...process.env, PORT: '0', BLOCKFIN_TCP_PORT: '0', HOST: '127.0.0.1', BLOCKFIN_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString()
  })
  child.stderr!.on('data', (c: Buffer) => {
    out += c.toString()
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const m = /open\s+(http:\/\/\S+)/.exec(out)
      if (m) resolve(m[1]!.replace('localhost', '127.0.0.1'))
    }
    child.stdout!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`relay exited (${code}):\n${out}`)))
  })
  const wsAddr = /libp2p\s+(\S+\/ws\/p2p\/\S+)/.exec(out)![1]!
  let feeds: Record<string, number> = {}
  let status: { network: { id: string; key: string }; relay: { id: string } }
  for (;;) {
    status = (await (await fetch(`${url}/api/status`)).json()) as typeof status
    const body = (await (await fetch(`${url}/api/feeds`)).json()) as {
      feeds: { id: string; sequence: number }[]
    }
    feeds = Object.fromEntries(body.feeds.map((f) => [f.id, f.sequence]))
    const own = feeds[status.relay.id] ?? 0
    // Its feed: 5 role certificates, 5 contacts for its own validator's feeds, one per seeded feed.
    if (Object.keys(feeds).length >= expectFeeds + 1 && own >= 10 + expectFeeds) break
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    url,
    wsAddr,
    networkId: status.network.id,
    networkKey: status.network.key,
    feeds,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

async function withSeededRelay<T>(count: number, run: (relay: RelayInfo) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'blockfin-net-bench-'))
  let relay: RelayInfo | undefined
  try {
    await seedRelay(join(dir, 'relay'), count)
    relay = await startRelayProcess(join(dir, 'relay'), FEEDS)
    return await run(relay)
  } finally {
    await relay?.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

const total = (feeds: Record<string, number>) => Object.values(feeds).reduce((a, b) => a + b, 0)

function result(name: string, messages: number, ms: number, report?: Report, note?: string): number {
  const seconds = ms / 1000
  const msgsPerSec = messages / seconds
  report?.({ name, messages, seconds, msgsPerSec, ...(note ? { note } : {}) })
  return msgsPerSec
}

/** Relay process to a new headless validator process (LevelDB). */
export async function relayToValidator(count: number, report?: Report): Promise<number> {
  return withSeededRelay(count, async (relay) => {
    const dir = await mkdtemp(join(tmpdir(), 'blockfin-net-bench-validator-'))
    try {
      const expected = total(relay.feeds)
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'relay/src/cli/validator.ts',
          '--relay',
          relay.url,
          '--data',
          join(dir, 'v'),
          '--until-messages',
          String(expected),
          '--quiet',
        ],
        { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] },
      )
      let out = ''
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString()
      })
      child.stderr!.on('data', (c: Buffer) => {
        out += c.toString()
      })
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
      const m = /reached (\d+) messages in (\d+) ms/.exec(out)
      if (code !== 0 || !m) throw new Error(`validator failed (${code}):\n${out}`)
      return result('relay to headless validator', Number(m[1]), Number(m[2]), report, 'from validator start')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
}

async function withBenchPages<T>(
  pages: number,
  run: (p: import('playwright').Page[]) => Promise<T>,
): Promise<T> {
  const site = await buildAndServe(join(here, 'network-browser'), 'network-browser')
  // One browser per tab, each with its own on-disk profile (IndexedDB on disk).
  const tabs: TabBrowser[] = []
  try {
    const list = []
    for (let i = 0; i < pages; i++) {
      const tab = await launchTabBrowser()
      tabs.push(tab)
      const page = await tab.context.newPage()
      page.on('pageerror', (e) => console.error('page error:', e.message))
      await page.goto(`${site.origin}/index.html`)
      await page.waitForFunction(() => typeof (window as { netBench?: unknown }).netBench === 'object')
      list.push(page)
    }
    return await run(list)
  } finally {
    for (const tab of tabs) await tab.close()
    site.close()
  }
}

/** Relay process to a Chromium tab's IndexedDB store. */
export async function relayToTab(count: number, report?: Report): Promise<number> {
  return withSeededRelay(count, (relay) =>
    withBenchPages(1, async ([page]) => {
      const setup = { relayAddr: relay.wsAddr, networkId: relay.networkId, networkKey: relay.networkKey }
      const ms = await page!.evaluate(([s, e]) => window.netBench.fromRelay(s, e), [
        setup,
        relay.feeds,
      ] as const)
      return result('relay to tab (IndexedDB)', total(relay.feeds), ms, report, 'from the relay connection')
    }),
  )
}

/** A new tab of the real app catching up with a relay holding `count` messages. */
export async function tabCatchUp(count: number, report?: Report): Promise<number> {
  if (!existsSync(join(repo, 'dist', 'index.html'))) await build({ root: repo, logLevel: 'warn' })
  return withSeededRelay(count, async (relay) => {
    const tab = await launchTabBrowser()
    try {
      const page = await tab.context.newPage()
      const expected = Object.entries(relay.feeds)
      const t0 = Date.now()
      await page.goto(relay.url)
      await page.waitForFunction(
        (want) =>
          want.every(([feed, seq]) => {
            const row = document.querySelector(`[data-testid="replicated-feed"][data-feed="${feed}"]`)
            return Number((row as HTMLElement | null)?.dataset.sequence ?? 0) >= seq
          }),
        expected,
        { polling: 250, timeout: 30 * 60_000 },
      )
      const ms = Date.now() - t0
      return result(
        'new tab catch-up (app)',
        total(relay.feeds),
        ms,
        report,
        `caught up in ${(ms / 1000).toFixed(1)} s`,
      )
    } finally {
      await tab.close()
    }
  })
}

/** Tab to tab over a direct WebRTC connection, into IndexedDB. */
export async function tabToTab(count: number, report?: Report): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'blockfin-net-bench-'))
  let relay: RelayInfo | undefined
  try {
    relay = await startRelayProcess(join(dir, 'relay'), 0)
    const setup = { relayAddr: relay.wsAddr, networkId: relay.networkId, networkKey: relay.networkKey }
    return await withBenchPages(2, async ([authorPage, readerPage]) => {
      const author = await authorPage!.evaluate(([s, n]) => window.netBench.author(s, n), [
        setup,
        count,
      ] as const)
      const ms = await readerPage!.evaluate(([s, a, n]) => window.netBench.fromTab(s, a, n), [
        setup,
        { peerId: author.peerId, feed: author.feed },
        count,
      ] as const)
      return result('tab to tab (WebRTC, IndexedDB)', count, ms, report, 'from the direct connection')
    })
  } finally {
    await relay?.stop()
    await rm(dir, { recursive: true, force: true })
  }
}
