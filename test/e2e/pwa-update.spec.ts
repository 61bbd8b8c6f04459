/**
 * A new version of the app is applied only after the person agrees and only at a safe point. Two
 * builds of the app (versions e2e-1 and e2e-2, with a safe point the test releases) are served by a
 * small static server that also forwards /api to the test relay; the test swaps the served build
 * and asks the service worker to look for an update.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { expect, test } from '@playwright/test'
import sirv from 'sirv'
import { build, type Plugin } from 'vite'
import { finishOnboarding, keepScreenshot, REPO_ROOT } from './helpers'

const SAFE_POINT_MODULE = resolve(REPO_ROOT, 'src/app/safe-point.ts')
const SAFE_POINT_FIXTURE = resolve(REPO_ROOT, 'test/e2e/fixtures/safe-point.ts')

/** Builds the app with `version` in its footer and the test's safe point. */
async function buildApp(version: string, outDir: string): Promise<void> {
  const swapSafePoint: Plugin = {
    name: 'e2e-safe-point',
    enforce: 'pre',
    async resolveId(source, importer, options) {
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true })
      return resolved?.id === SAFE_POINT_MODULE ? SAFE_POINT_FIXTURE : null
    },
  }
  await build({
    configFile: resolve(REPO_ROOT, 'vite.config.ts'),
    root: REPO_ROOT,
    logLevel: 'warn',
    plugins: [swapSafePoint],
    define: { 'import.meta.env.VITE_APP_VERSION': JSON.stringify(version) },
    build: { outDir, emptyOutDir: true, sourcemap: false },
  })
}

let dirs: { root: string; v1: string; v2: string }
let served: 'v1' | 'v2' = 'v1'
let server: Server
let origin: string

test.beforeAll(async () => {
  test.setTimeout(180_000)
  const root = await mkdtemp(join(tmpdir(), 'blockfin-pwa-update-'))
  dirs = { root, v1: join(root, 'v1'), v2: join(root, 'v2') }
  await buildApp('e2e-1', dirs.v1)
  await buildApp('e2e-2', dirs.v2)
  const handlers = {
    v1: sirv(dirs.v1, { dev: true, single: true }),
    v2: sirv(dirs.v2, { dev: true, single: true }),
  }
  const relay = new URL(`http://127.0.0.1:${process.env.BLOCKFIN_E2E_PORT}`)
  server = createServer((req, res) => {
    if (req.url?.startsWith('/api/')) {
      const forward = request(
        { host: relay.hostname, port: relay.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(res)
        },
      )
      forward.on('error', () => res.writeHead(502).end())
      req.pipe(forward)
      return
    }
    handlers[served](req, res, () => {
      res.writeHead(404).end()
    })
  })
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

test.afterAll(async () => {
  await new Promise<void>((done) => (server ? server.close(() => done()) : done()))
  if (dirs) await rm(dirs.root, { recursive: true, force: true })
})

test('a new version is offered, and the page reloads only after the click and after the safe point', async ({
  page,
}, testInfo) => {
  test.setTimeout(120_000)
  served = 'v1'
  const url = `${origin}/?join=%25invite&network=%25net#/dashboard`
  await page.goto(url)
  await expect(page.getByTestId('identity-id')).toHaveText(/^@/)
  await finishOnboarding(page)
  await expect(page.getByTestId('app-version')).toHaveText('Version e2e-1.')
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready
    if (!navigator.serviceWorker.controller)
      await new Promise((done) => navigator.serviceWorker.addEventListener('controllerchange', done))
  })
  // Marks this document: it is gone once the page reloads.
  await page.evaluate(() => {
    ;(window as { marker?: string }).marker = 'the first page'
  })
  const marker = () => page.evaluate(() => (window as { marker?: string }).marker ?? null)
  const safePointCalls = () => page.evaluate(() => window.__safePoint?.calls ?? -1)

  served = 'v2'
  await page.evaluate(async () => {
    await (await navigator.serviceWorker.getRegistration())!.update()
  })
  const banner = page.getByTestId('update-banner')
  await expect(banner).toHaveAttribute('data-state', 'ready', { timeout: 30_000 })
  await expect(banner).toContainText('A new version of the app is ready.')
  await keepScreenshot(page, 'update-ready')
  await testInfo.attach('update-ready', {
    path: resolve(REPO_ROOT, 'test-results/screenshots/update-ready.png'),
    contentType: 'image/png',
  })

  // Nothing happens until the person clicks.
  await page.waitForTimeout(1_500)
  expect(await marker()).toBe('the first page')
  expect(await safePointCalls()).toBe(0)

  await page.getByTestId('apply-update').click()
  await expect(banner).toHaveAttribute('data-state', 'waiting-for-safe-point')
  await expect(page.getByTestId('update-waiting')).toBeVisible()
  expect(await safePointCalls()).toBe(1)
  // Still the first page while the validator is not between votes.
  await page.waitForTimeout(2_000)
  expect(await marker()).toBe('the first page')
  await expect(page.getByTestId('app-version')).toHaveText('Version e2e-1.')

  const reloaded = page.waitForEvent('load')
  await page.evaluate(() => window.__safePoint!.release())
  await reloaded
  await expect(page.getByTestId('app-version')).toHaveText('Version e2e-2.')
  expect(await marker()).toBeNull()
  await expect(page.getByTestId('update-banner')).toHaveCount(0)
  // The reload keeps the address, query string (an invite) and section included.
  expect(page.url()).toBe(url)
  await expect(page.getByTestId('identity-id')).toHaveText(/^@/)
  await expect(page.getByTestId('onboarding')).toHaveCount(0)
})

test('installable: the manifest names the app and its 192, 512 and maskable PNG icons, which are served', async ({
  page,
  request,
}) => {
  await page.goto('/')
  const href = await page.locator('link[rel="manifest"]').getAttribute('href')
  const manifest = (await (await request.get(href!)).json()) as {
    name: string
    start_url: string
    display: string
    icons: { src: string; sizes: string; type: string; purpose?: string }[]
  }
  expect(manifest.name).toBe('BlockfinBFT validator')
  expect(manifest.start_url).toBe('/')
  expect(manifest.display).toBe('standalone')
  const wanted = [
    ['192x192', 'any'],
    ['512x512', 'any'],
    ['512x512', 'maskable'],
  ]
  for (const [sizes, purpose] of wanted) {
    const icon = manifest.icons.find((i) => i.sizes === sizes && (i.purpose ?? 'any') === purpose)
    expect(icon, `${sizes} ${purpose}`).toBeDefined()
    const png = await (await request.get(`/${icon!.src}`)).body()
    // PNG signature, then IHDR's width and height.
    expect(png.subarray(1, 4).toString('ascii')).toBe('PNG')
    expect(`${png.readUInt32BE(16)}x${png.readUInt32BE(20)}`).toBe(sizes)
  }
  // A service worker controls the page (the app shell works offline: test/e2e/offline.spec.ts).
  expect(await page.evaluate(async () => Boolean(await navigator.serviceWorker.ready))).toBe(true)
})
