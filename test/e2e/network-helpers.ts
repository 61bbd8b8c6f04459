/**
 * Helpers for the network e2e tests: relay processes the test controls (fixed port, so tabs find
 * them again after a restart; SIGKILL), tabs in their own browser contexts (own IndexedDB, own
 * identity), and reading what a tab holds from its Network panel. Waits are by polling the page or
 * the relay's API; no test asserts a duration.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { type Browser, type BrowserContext, expect, type Page } from '@playwright/test'
import { appendMessage, FEED_ID, finishOnboarding, REPO_ROOT } from './helpers'

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })
}

export interface RelayProcess {
  readonly url: string
  readonly port: number
  readonly dataDir: string
  readonly child: ChildProcess
  output(): string
  /** Sends the signal and waits for the exit. */
  kill(signal: NodeJS.Signals): Promise<void>
}

/** Starts `relay/src/main.ts` on `port` (a fixed one survives restarts) and waits until it listens. */
export async function startRelayProcess(options: {
  readonly dataDir: string
  readonly port: number
  readonly env?: Record<string, string>
}): Promise<RelayProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'relay/src/main.ts'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PORT: String(options.port),
      BLOCKFIN_TCP_PORT: '0',
      HOST: '127.0.0.1',
      BLOCKFIN_DATA_DIR: options.dataDir,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let text = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    text += chunk.toString()
  })
  child.stderr!.on('data', (chunk: Buffer) => {
    text += chunk.toString()
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    const onData = () => {
      if (/open\s+http:\/\/\S+/.test(text)) {
        child.stdout!.off('data', onData)
        resolve()
      }
    }
    child.stdout!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`relay exited (${code}) before listening:\n${text}`)))
  })
  return {
    url: `http://127.0.0.1:${options.port}`,
    port: options.port,
    dataDir: options.dataDir,
    child,
    output: () => text,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      await exited
    },
  }
}

export interface Tab {
  readonly context: BrowserContext
  readonly page: Page
  readonly identity: string
}

/** A tab in a browser context of its own, opened on `url`, with its validator and network up. */
export async function openTab(browser: Browser, url: string): Promise<Tab> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } })
  const page = await context.newPage()
  await page.goto(url)
  const id = page.getByTestId('identity-id')
  await expect(id).toHaveText(FEED_ID)
  await finishOnboarding(page)
  await expect(page.getByTestId('node-state')).toHaveAttribute('data-state', 'running', { timeout: 30_000 })
  return { context, page, identity: (await id.textContent())!.trim() }
}

/**
 * The latest sequence of the tab's own feed once its validator is up: the role certificates its
 * consensus runtime publishes at start come before anything a test appends.
 */
export async function ownHead(tab: Tab): Promise<number> {
  return tab.page.evaluate(async (identity) => {
    await window.blockfin!.ready
    // Started means the certificates are durable: the runtime awaits its first publishes.
    return window.blockfin!.feeds().find((f) => f.id === identity)?.sequence ?? 0
  }, tab.identity)
}

/** Appends one message through the page's form and returns nothing until it is in the feed. */
export const append = (tab: Tab, text: string) => appendMessage(tab.page, text)

/** Waits until the tab holds `feed` up to at least `sequence` (its Network panel). */
export async function waitForFeed(tab: Tab, feed: string, sequence: number, timeout = 60_000): Promise<void> {
  await expect
    .poll(
      () =>
        tab.page
          .locator(`[data-testid="replicated-feed"][data-feed="${feed}"]`)
          .getAttribute('data-sequence', { timeout: 1_000 })
          .then(Number)
          .catch(() => 0),
      { timeout, message: `tab ${tab.identity} holds ${feed} up to ${sequence}` },
    )
    .toBeGreaterThanOrEqual(sequence)
}

/** The latest sequence of `feed` the relay holds (0 when none). */
export async function relaySequence(url: string, feed: string): Promise<number> {
  try {
    const body = (await (await fetch(`${url}/api/feeds`)).json()) as {
      feeds: { id: string; sequence: number }[]
    }
    return body.feeds.find((f) => f.id === feed)?.sequence ?? 0
  } catch {
    return 0
  }
}

export async function waitForRelayFeed(
  url: string,
  feed: string,
  sequence: number,
  timeout = 60_000,
): Promise<void> {
  await expect
    .poll(() => relaySequence(url, feed), {
      timeout,
      message: `relay ${url} holds ${feed} up to ${sequence}`,
    })
    .toBeGreaterThanOrEqual(sequence)
}

/** Every message of `feed` the relay serves, 1..n, fetched page by page. */
export async function relayMessages(
  url: string,
  feed: string,
): Promise<{ sequence: number; previous: string | null }[]> {
  const out: { sequence: number; previous: string | null }[] = []
  for (;;) {
    const response = await fetch(`${url}/api/feeds/${encodeURIComponent(feed)}?since=${out.length}`)
    if (response.status === 404) return out
    const page = (await response.json()) as { sequence: number; previous: string | null }[]
    if (page.length === 0) return out
    out.push(...page)
  }
}

/** The tab's connections, from its Network panel. */
export async function connections(
  tab: Tab,
): Promise<{ peer: string; transport: string; limited: boolean; relay: boolean; addr: string }[]> {
  return tab.page.getByTestId('connection-row').evaluateAll((rows) =>
    rows.map((row) => {
      const d = (row as HTMLElement).dataset
      return {
        peer: d.peer ?? '',
        transport: d.transport ?? '',
        limited: d.limited === 'true',
        relay: d.relay === 'true',
        addr: d.addr ?? '',
      }
    }),
  )
}
