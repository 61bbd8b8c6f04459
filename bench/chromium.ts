/** Builds bench/browser with Vite, serves it on loopback and runs it in Debian's Chromium. */
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type BrowserContext, chromium } from 'playwright'
import sirv from 'sirv'
import { build } from 'vite'
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../scripts/chromium'

const here = fileURLToPath(new URL('.', import.meta.url))

export interface TabBrowser {
  readonly context: BrowserContext
  /** Ends the browser and deletes its profile. */
  close(): Promise<void>
}

/**
 * A Chromium with its own on-disk profile, as a user's browser has. A context from
 * `browser.newContext()` is off the record: its IndexedDB lives in memory, so a figure measured
 * there would leave the disk out.
 */
export async function launchTabBrowser(): Promise<TabBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'blockfin-bench-profile-'))
  let context: BrowserContext
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
      headless: true,
    })
  } catch (e) {
    await rm(profile, { recursive: true, force: true })
    throw e
  }
  return {
    context,
    async close() {
      await context.close()
      await rm(profile, { recursive: true, force: true })
    },
  }
}

export async function runInChromium<T>(
  evaluate: (page: import('playwright').Page) => Promise<T>,
  options: { root?: string } = {},
): Promise<T> {
  const site = await buildAndServe(options.root ?? join(here, 'browser'), 'browser')
  try {
    const tab = await launchTabBrowser()
    try {
      const page = await tab.context.newPage()
      page.on('pageerror', (e) => console.error('page error:', e.message))
      await page.goto(`${site.origin}/index.html`)
      await page.waitForFunction(() => typeof (window as { runBench?: unknown }).runBench === 'function')
      return await evaluate(page)
    } finally {
      await tab.close()
    }
  } finally {
    site.close()
  }
}

/** Builds a bench page with Vite into .bench-out/<name> and serves it on loopback. */
export async function buildAndServe(root: string, name: string): Promise<{ origin: string; close(): void }> {
  const outDir = join(here, '..', '.bench-out', name)
  await build({ root, logLevel: 'warn', build: { outDir, emptyOutDir: true, target: 'es2022' } })
  const serve = sirv(outDir, { dev: true })
  const server = createServer((req, res) =>
    serve(req, res, () => {
      res.writeHead(404).end()
    }),
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { origin: `http://127.0.0.1:${port}`, close: () => server.close() }
}
