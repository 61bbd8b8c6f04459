/**
 * The app's own figures (issue 6): how much JavaScript a first visit loads, gzipped, and how long a
 * Chromium tab takes from navigation to "identity ready" (the identity id is in the page).
 *
 * - initial JS: what dist/index.html loads before any code runs (its module script and modulepreloads).
 * - JS fetched until identity ready: every .js file the first visit's page requested by then
 *   (resource timing), which adds the chunks the app imports lazily at start (libp2p, workbox-window).
 * - all app JS: every .js file under dist/assets.
 * Sizes are gzip (level 6, as most servers compress) of the files on disk; kB = 1000 bytes.
 * Timing: a relay process serves dist/; each run is a new browser context (first visit: no service
 * worker, a new identity is created), then a reload of it (repeat visit: the service worker serves
 * the app, the identity comes from IndexedDB). The median of the runs is printed.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { chromium } from 'playwright'
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../scripts/chromium'

const repo = join(fileURLToPath(new URL('.', import.meta.url)), '..')
const dist = join(repo, 'dist')

/** The first-load budget of issue 6. */
export const INITIAL_JS_TARGET_KB = 250

export interface Size {
  readonly files: number
  readonly raw: number
  readonly gzip: number
}

export interface AppBenchResult {
  readonly initial: Size
  readonly fetchedUntilReady: Size
  readonly total: Size
  readonly serviceWorker: Size
  /** Navigation to identity ready, milliseconds, one entry per run. */
  readonly firstVisitMs: number[]
  readonly repeatVisitMs: number[]
}

async function sizeOf(paths: readonly string[]): Promise<Size> {
  let raw = 0
  let gzip = 0
  for (const path of paths) {
    const bytes = await readFile(path)
    raw += bytes.length
    gzip += gzipSync(bytes, { level: 6 }).length
  }
  return { files: paths.length, raw, gzip }
}

/** The JS files dist/index.html names: its module script and its modulepreload links. */
async function initialScripts(): Promise<string[]> {
  const html = await readFile(join(dist, 'index.html'), 'utf8')
  const refs = [
    ...html.matchAll(/<script[^>]*type="module"[^>]*src="([^"]+)"/g),
    ...html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g),
  ].map((m) => m[1]!)
  return [...new Set(refs)].map((ref) => join(dist, ref))
}

async function startRelay(dataDir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'relay/src/main.ts'], {
    cwd: repo,
    env: { ...process.env, PORT: '0', BLOCKFIN_TCP_PORT: '0', HOST: '127.0.0.1', BLOCKFIN_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stderr!.on('data', (c: Buffer) => {
    out += c.toString()
  })
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /open\s+(http:\/\/\S+)/.exec(out)
      if (m) resolve(m[1]!.replace('localhost', '127.0.0.1'))
    })
    child.once('exit', (code) => reject(new Error(`relay exited (${code}):\n${out}`)))
  })
  return { url, child }
}

/**
 * Records performance.now() (ms since navigation start) when the identity id appears in the page.
 * A string, not a function: tsx's name helpers do not exist in the page.
 */
const WATCH_IDENTITY = `(() => {
  const check = () => {
    if (window.__identityReadyAt !== undefined) return
    const el = document.querySelector('[data-testid="identity-id"]')
    const text = el && el.textContent ? el.textContent.trim() : ''
    if (/^@[A-Za-z0-9+/]{43}=\\.ed25519$/.test(text)) window.__identityReadyAt = performance.now()
  }
  new MutationObserver(check).observe(document, { subtree: true, childList: true, characterData: true })
})()`

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

export async function runAppBench(options: { readonly runs: number }): Promise<AppBenchResult> {
  const assets = (await readdir(join(dist, 'assets'))).filter((f) => f.endsWith('.js'))
  const initial = await sizeOf(await initialScripts())
  const total = await sizeOf(assets.map((f) => join(dist, 'assets', f)))
  const swFiles = (await readdir(dist)).filter((f) => /^(sw|workbox-[^.]+)\.js$/.test(f))
  const serviceWorker = await sizeOf(swFiles.map((f) => join(dist, f)))

  const dataDir = await mkdtemp(join(tmpdir(), 'blockfin-app-bench-'))
  const relay = await startRelay(dataDir)
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    headless: true,
  })
  const firstVisitMs: number[] = []
  const repeatVisitMs: number[] = []
  let fetched: string[] = []
  try {
    const readyAt = async (page: import('playwright').Page) => {
      await page.waitForFunction(() => (window as { __identityReadyAt?: number }).__identityReadyAt, null, {
        timeout: 60_000,
      })
      return page.evaluate(() => (window as { __identityReadyAt?: number }).__identityReadyAt!)
    }
    for (let run = 0; run < options.runs; run++) {
      const context = await browser.newContext()
      try {
        await context.addInitScript({ content: WATCH_IDENTITY })
        const page = await context.newPage()
        await page.goto(relay.url)
        firstVisitMs.push(await readyAt(page))
        if (run === 0)
          fetched = await page.evaluate(() =>
            performance
              .getEntriesByType('resource')
              .map((e) => new URL(e.name).pathname)
              .filter((p) => p.endsWith('.js')),
          )
        await page.evaluate(async () => {
          await navigator.serviceWorker.ready
          if (!navigator.serviceWorker.controller)
            await new Promise((done) => navigator.serviceWorker.addEventListener('controllerchange', done))
        })
        await page.reload()
        repeatVisitMs.push(await readyAt(page))
      } finally {
        await context.close()
      }
    }
  } finally {
    await browser.close()
    relay.child.kill('SIGTERM')
    await new Promise((done) => relay.child.once('exit', done))
    await rm(dataDir, { recursive: true, force: true })
  }
  const fetchedUntilReady = await sizeOf(
    [...new Set(fetched)].filter((p) => p.startsWith('/assets/')).map((p) => join(dist, p)),
  )
  return { initial, fetchedUntilReady, total, serviceWorker, firstVisitMs, repeatVisitMs }
}

const kB = (bytes: number) => `${(bytes / 1000).toFixed(1)} kB`
const size = (s: Size) => `${kB(s.gzip)} (${kB(s.raw)} raw, ${s.files} files)`

export function printAppTable(r: AppBenchResult, print: (line: string) => void): void {
  print('\n## The app (issue 6): JavaScript size (gzip) and time to identity ready in Chromium')
  print('| figure | value | target |')
  print('| --- | --- | --- |')
  const met = r.initial.gzip <= INITIAL_JS_TARGET_KB * 1000 ? 'met' : 'NOT met'
  print(
    `| initial JS (index.html's script and preloads) | ${size(r.initial)} | <= ${INITIAL_JS_TARGET_KB} kB: ${met} |`,
  )
  print(`| JS fetched by a first visit until identity ready | ${size(r.fetchedUntilReady)} | |`)
  print(`| all app JS (dist/assets) | ${size(r.total)} | |`)
  print(`| service worker (sw.js, workbox) | ${size(r.serviceWorker)} | |`)
  const runs = `median of ${r.firstVisitMs.length}`
  print(
    `| navigation to identity ready, first visit (new identity) | ${Math.round(median(r.firstVisitMs))} ms (${runs}) | |`,
  )
  print(
    `| navigation to identity ready, repeat visit (service worker) | ${Math.round(median(r.repeatVisitMs))} ms (${runs}) | |`,
  )
}

/** One call for bench/run.ts: measures and prints. */
export async function runAndPrintAppBench(quick: boolean, print: (line: string) => void): Promise<void> {
  printAppTable(await runAppBench({ runs: quick ? 1 : 5 }), print)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runAndPrintAppBench(process.argv.includes('--quick'), console.log).catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
