/**
 * The live Dashboard, read through the page only: a relay process and four validator tabs that join
 * by the invite link; transfers submitted to several tabs (window.blockfin) seal, and the dashboard
 * shows it: sealed blocks in the pipeline with signature counts at or above the quorum, role feeds
 * with sequences, charts with data points, the relay among the peers, membership and connection.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, type Page, type TestInfo, test } from '@playwright/test'
import { keepScreenshot, REPO_ROOT } from './helpers'
import { freePort, openTab, type RelayProcess, startRelayProcess, type Tab } from './network-helpers'

test.describe.configure({ mode: 'serial' })

async function shot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  await keepScreenshot(page, name)
  await testInfo.attach(name, {
    path: join(REPO_ROOT, 'test-results/screenshots', `${name}.png`),
    contentType: 'image/png',
  })
}

async function sendTransfer(tab: Tab, to: string, amount: number): Promise<void> {
  const sent = await tab.page.evaluate(([to, amount]) => window.blockfin!.submitTransfer(to, amount), [
    to,
    amount,
  ] as const)
  expect(sent.ok, JSON.stringify(sent)).toBe(true)
}

const numberAttr = async (page: Page, testid: string, attr: string): Promise<number> =>
  Number((await page.getByTestId(testid).first().getAttribute(attr)) ?? Number.NaN)

test.describe('the live dashboard', () => {
  let dataDir: string
  let relay: RelayProcess | undefined
  const tabs: Tab[] = []

  test.beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'blockfin-e2e-dashboard-'))
  })
  test.afterAll(async () => {
    for (const tab of tabs.splice(0)) await tab.context.close()
    await relay?.kill('SIGTERM')
    await rm(dataDir, { recursive: true, force: true })
  })

  test('shows sealed blocks with their signatures, role feeds, charts and the relay, from four tabs', async ({
    browser,
  }, testInfo) => {
    test.setTimeout(240_000)
    relay = await startRelayProcess({ dataDir, port: await freePort() })
    await expect.poll(() => relay!.output()).toMatch(/invite\s+http:\/\/\S+\/\?join=/)
    const { invite } = (await (await fetch(`${relay.url}/api/status`)).json()) as { invite: string }
    for (let i = 0; i < 4; i++) tabs.push(await openTab(browser, invite))
    const page = tabs[0]!.page
    await page.getByTestId('nav-dashboard').click()
    await expect(page.getByTestId('live-dashboard')).toBeVisible()
    await shot(page, testInfo, 'dashboard-four-tabs-joined')

    // Every tab sees itself admitted (scheduled or active) on its own dashboard.
    for (const tab of tabs)
      await expect(tab.page.getByTestId('join-panel')).toHaveAttribute('data-state', /^(scheduled|active)$/, {
        timeout: 60_000,
      })

    for (let round = 0; round < 2; round++)
      for (const [i, tab] of tabs.entries())
        await sendTransfer(tab, tabs[(i + 1) % tabs.length]!.identity, 5 + i)

    // The pipeline: sealed blocks with transactions; each stage's certificate has at least a quorum.
    const sealedRows = page.locator('[data-testid="pipeline-row"][data-stage="sealed"]')
    await expect
      .poll(
        () =>
          sealedRows.evaluateAll((rows) =>
            rows.reduce((n, r) => n + Number((r as HTMLElement).dataset.txs || 0), 0),
          ),
        { timeout: 90_000, message: 'sealed transactions in the pipeline' },
      )
      .toBeGreaterThanOrEqual(8)
    // A block is sealed here once this tab's own core saw the seal votes; the Messagenode's seal
    // certificate follows. Every certificate shown carries at least the quorum of its height.
    const certified = () =>
      sealedRows.evaluateAll((rs) =>
        rs
          .map((r) => (r as HTMLElement).dataset)
          .filter((d) => d.sealVotes !== '')
          .map((d) => ({
            height: Number(d.height),
            votes: Number(d.sealVotes),
            quorum: Number(d.sealQuorum),
          })),
      )
    await expect
      .poll(async () => (await certified()).length, {
        timeout: 60_000,
        message: 'sealed rows with a seal certificate',
      })
      .toBeGreaterThanOrEqual(2)
    for (const r of await certified()) {
      expect(r.quorum, `quorum known at ${r.height}`).toBeGreaterThanOrEqual(1)
      expect(r.votes, `seal signatures at ${r.height}`).toBeGreaterThanOrEqual(r.quorum)
    }
    await expect(page.getByTestId('join-panel')).toHaveAttribute('data-state', 'active')
    await expect(page.getByTestId('validator-set')).toHaveAttribute('data-n', '5')
    await expect(page.getByTestId('dashboard-connection')).toHaveAttribute('data-state', 'online')

    // My feeds: each role feed has messages (votes, and transactions in the transaction feed).
    const feeds = page.getByTestId('role-feed')
    await expect(feeds).toHaveCount(4)
    for (const role of ['transaction-validator', 'precommitter', 'committer', 'sealer'])
      await expect
        .poll(() =>
          page
            .locator(`[data-testid="role-feed"][data-role="${role}"]`)
            .getAttribute('data-sequence')
            .then(Number),
        )
        .toBeGreaterThan(0)

    // Charts: a canvas each, with data points.
    for (const chart of ['chart-throughput', 'chart-latency', 'chart-activity']) {
      await expect(page.getByTestId(chart).locator('canvas')).toHaveCount(1)
      await expect.poll(() => numberAttr(page, chart, 'data-points'), { message: chart }).toBeGreaterThan(0)
    }
    await expect.poll(() => numberAttr(page, 'activity-summary', 'data-votes')).toBeGreaterThan(0)

    // Peers: the relay is there.
    await expect(page.locator('[data-testid="peer-row"][data-relay="true"]')).toHaveCount(1, {
      timeout: 30_000,
    })

    await page.getByTestId('charts').scrollIntoViewIfNeeded()
    await shot(page, testInfo, 'dashboard-sealed')
  })
})
