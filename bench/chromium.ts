/** Builds bench/browser with Vite, serves it on loopback and runs it in Debian's Chromium. */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright'
import sirv from 'sirv'
import { build } from 'vite'
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../scripts/chromium'

const here = fileURLToPath(new URL('.', import.meta.url))

export async function runInChromium<T>(
  evaluate: (page: import('playwright').Page) => Promise<T>,
  options: { root?: string } = {},
): Promise<T> {
  const root = options.root ?? join(here, 'browser')
  const outDir = join(here, '..', '.bench-out', 'browser')
  await build({ root, logLevel: 'warn', build: { outDir, emptyOutDir: true, target: 'es2022' } })
  const serve = sirv(outDir, { dev: true })
  const server = createServer((req, res) =>
    serve(req, res, () => {
      res.writeHead(404).end()
    }),
  )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    headless: true,
  })
  try {
    const page = await browser.newPage()
    page.on('pageerror', (e) => console.error('page error:', e.message))
    await page.goto(`http://127.0.0.1:${port}/index.html`)
    await page.waitForFunction(() => typeof (window as { runBench?: unknown }).runBench === 'function')
    return await evaluate(page)
  } finally {
    await browser.close()
    server.close()
  }
}
