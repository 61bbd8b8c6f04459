/**
 * The automation example of README.md and docs/automation.md, as a test (N = 3): open the relay's
 * invite link in N browser contexts, await `window.blockfin.ready`, wait until each is admitted,
 * submit transfers (each validator pays the next one) and wait until they are sealed. Only the
 * browser (Playwright's `browser` fixture instead of `chromium.launch()`) and the relay (a process
 * of its own) differ from the snippet.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BrowserContext, expect, type Page, test } from '@playwright/test'
import { freePort, type RelayProcess, startRelayProcess } from './network-helpers'

const N = 3

test.describe('automation example: N validators driven through window.blockfin', () => {
  let dataDir: string
  let relay: RelayProcess | undefined
  const contexts: BrowserContext[] = []

  test.beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'blockfin-e2e-automation-'))
  })
  test.afterAll(async () => {
    for (const context of contexts.splice(0)) await context.close()
    await relay?.kill('SIGTERM')
    await rm(dataDir, { recursive: true, force: true })
  })

  test(`${N} validators join by the invite link and seal each other's transfers`, async ({ browser }) => {
    test.setTimeout(300_000)
    relay = await startRelayProcess({ dataDir, port: await freePort() })

    // --- the README snippet, from here on ---
    const { invite } = (await (await fetch(`${relay.url}/api/status`)).json()) as { invite: string }

    const pages: Page[] = []
    for (let i = 0; i < N; i++) {
      const context = await browser.newContext()
      contexts.push(context)
      const page = await context.newPage()
      await page.goto(invite) // the page joins with the invite in its URL
      await page.evaluate(() => window.blockfin!.ready)
      pages.push(page)
    }
    const ids = await Promise.all(pages.map((p) => p.evaluate(() => window.blockfin!.identity())))

    const until = async (check: () => Promise<boolean>, timeout = 120_000) => {
      for (const end = Date.now() + timeout; !(await check()); await new Promise((r) => setTimeout(r, 500)))
        if (Date.now() > end) throw new Error('timed out')
    }
    const stateOf = (p: Page) => p.evaluate(() => window.blockfin!.status().membership.state)
    // Admitted (`scheduled`: votes from a later block, or already `active`), with the welcome
    // grant executed by this tab.
    const admitted = (p: Page) =>
      p.evaluate(() => {
        const s = window.blockfin!.status()
        return ['scheduled', 'active'].includes(s.membership.state) && s.balance > 0
      })
    for (const p of pages) await until(() => admitted(p))

    // Each validator pays the next one 10 (the welcome grant is 10,000).
    for (const [i, p] of pages.entries()) {
      const sent = await p.evaluate(
        ([to]) => window.blockfin!.submitTransfer(to!, 10),
        [ids[(i + 1) % ids.length]],
      )
      if (!sent.ok) throw new Error(JSON.stringify(sent.error))
    }
    const allSealed = (p: Page) =>
      p.evaluate(() => window.blockfin!.transfers().every((t) => t.status.stage === 'sealed'))
    for (const p of pages) await until(() => allSealed(p))
    const balances = await pages[0]!.evaluate(() => window.blockfin!.balances())
    // --- end of the snippet ---

    // Each paid 10 and received 10: the welcome grant is untouched; every tab agrees.
    for (const id of ids) expect(balances[id]).toBe(10_000)
    for (const p of pages)
      await expect.poll(() => p.evaluate(() => window.blockfin!.balances())).toEqual(balances)
    for (const p of pages) expect(await stateOf(p)).toBe('active')
    // The replication counters: the blocks reached this tab as stored messages, over its sessions.
    const counters = await pages[0]!.evaluate(() => {
      const m = window.blockfin!.replication()!
      return { stored: m.messagesStored, peers: Object.keys(m.perPeer).length, rejected: m.messagesRejected }
    })
    expect(counters.stored).toBeGreaterThan(0)
    expect(counters.peers).toBeGreaterThan(0)
    expect(counters.rejected).toEqual({})
  })
})
