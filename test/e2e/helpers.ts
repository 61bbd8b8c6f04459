import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, type Page } from '@playwright/test'

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const FEED_ID = /^@[A-Za-z0-9+/]{43}=\.ed25519$/
export const MESSAGE_ID = /^%[A-Za-z0-9+/]{43}=\.sha256$/

/** Opens the app, waits until the validator session is up (identity shown) and ends onboarding. */
export async function openApp(page: Page, url = '/'): Promise<string> {
  await page.goto(url)
  const id = page.getByTestId('identity-id')
  await expect(id).toHaveText(FEED_ID)
  await finishOnboarding(page)
  return (await id.textContent())!.trim()
}

/**
 * On a browser's first visit the app shows onboarding (keep the new identity, download its file,
 * confirm the backup, open the dashboard); goes through it when shown. Call once the identity is up.
 */
export async function finishOnboarding(page: Page): Promise<void> {
  if ((await page.getByTestId('onboarding').count()) === 0) return
  await page.getByTestId('onboarding-create').click()
  const download = page.waitForEvent('download')
  await page.getByTestId('backup-download').click()
  await download
  await page.getByTestId('backup-confirm').check()
  await page.getByTestId('backup-continue').click()
  await page.getByTestId('onboarding-finish').click()
  await expect(page.getByTestId('onboarding')).toHaveCount(0)
}

export async function appendMessage(page: Page, text: string): Promise<void> {
  const rows = page.getByTestId('feed-row')
  const before = await rows.count()
  await page.getByTestId('message-text').fill(text)
  await page.getByTestId('append-button').click()
  await expect(rows).toHaveCount(before + 1)
  await expect(rows.last().getByTestId('feed-text')).toHaveText(text)
}

export async function feedRows(page: Page): Promise<{ sequence: string; text: string; id: string }[]> {
  return page.getByTestId('feed-row').evaluateAll((rows) =>
    rows.map((row) => ({
      sequence: row.querySelector('[data-testid="feed-sequence"]')!.textContent!.trim(),
      text: row.querySelector('[data-testid="feed-text"]')!.textContent!.trim(),
      id: row.querySelector('[data-testid="feed-id"]')!.textContent!.trim(),
    })),
  )
}

/** Sequence numbers of one feed, listed in order: each after the one before. */
export function expectIncreasing(sequences: readonly number[]): void {
  for (let i = 1; i < sequences.length; i++) expect(sequences[i]!).toBeGreaterThan(sequences[i - 1]!)
}

/** Saves a full-page screenshot as a kept artifact (test-results/screenshots/<name>.png). */
export async function keepScreenshot(page: Page, name: string): Promise<void> {
  const dir = resolve(REPO_ROOT, 'test-results/screenshots')
  mkdirSync(dir, { recursive: true })
  await page.screenshot({ path: resolve(dir, `${name}.png`), fullPage: true })
}

/** A relay process started by a test, on its own data directory and a port the OS picks. */
export interface SpawnedRelay {
  readonly url: string
  readonly output: () => string
  /** SIGTERM, then the exit code (the relay closes HTTP and the store first). */
  stop(): Promise<number | null>
}

export interface RelayExit {
  readonly code: number | null
  readonly output: string
}

function startRelayProcess(dataDir: string): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'relay/src/main.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', BLOCKFIN_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let text = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    text += chunk.toString()
  })
  child.stderr!.on('data', (chunk: Buffer) => {
    text += chunk.toString()
  })
  return { child, output: () => text }
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode)
    else child.once('exit', (code) => resolve(code))
  })

/** Starts a relay and waits for the address it prints; fails with its output if it exits first. */
export async function spawnRelay(dataDir: string): Promise<SpawnedRelay> {
  const { child, output } = startRelayProcess(dataDir)
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const m = /open\s+(http:\/\/\S+)/.exec(output())
      if (m) {
        child.stdout!.off('data', onData)
        child.off('exit', onExit)
        resolve(m[1]!.replace('localhost', '127.0.0.1'))
      }
    }
    const onExit = (code: number | null) =>
      reject(new Error(`relay exited (${code}) before listening:\n${output()}`))
    child.stdout!.on('data', onData)
    child.once('exit', onExit)
  })
  return {
    url,
    output,
    async stop() {
      const done = exited(child)
      child.kill('SIGTERM')
      return done
    },
  }
}

/** Runs a relay that is expected to refuse to start; returns its exit code and output. */
export async function runFailingRelay(dataDir: string): Promise<RelayExit> {
  const { child, output } = startRelayProcess(dataDir)
  // Should it start after all, stop it so the test fails on the exit code instead of hanging.
  child.stdout!.on('data', () => {
    if (/open\s+http/.test(output())) child.kill('SIGTERM')
  })
  const code = await exited(child)
  return { code, output: output() }
}
