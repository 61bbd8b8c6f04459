/**
 * Live consensus with real parts: a relay process (its Messagenode and its own validator) and four
 * Chromium tabs that join through the relay's invite link and validate. Transfers are submitted to
 * different tabs (window.blockfin, the automation API); every tab and the relay must report the
 * same sealed blocks and the same balances. Then one tab closes (n = 5, f = 1): blocks keep
 * sealing; it comes back and catches up.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, type Page, test } from '@playwright/test'
import { freePort, openTab, type RelayProcess, startRelayProcess, type Tab } from './network-helpers'

test.describe.configure({ mode: 'serial' })

interface SealedView {
  height: number
  block: string | null
  stateRoot: string | null
}

const status = (page: Page) =>
  page.evaluate(async () => {
    await window.blockfin!.ready
    return window.blockfin!.status()
  })

const sealedBlocks = (page: Page): Promise<SealedView[]> =>
  page.evaluate(() =>
    window
      .blockfin!.blocks(100)
      .filter((b) => b.stage === 'sealed')
      .map((b) => ({ height: b.height, block: b.block, stateRoot: b.stateRoot })),
  )

const relayJson = async <T>(url: string, path: string): Promise<T> =>
  (await (await fetch(`${url}${path}`)).json()) as T

async function sendTransfer(tab: Tab, to: string, amount: number): Promise<void> {
  const sent = await tab.page.evaluate(([to, amount]) => window.blockfin!.submitTransfer(to, amount), [
    to,
    amount,
  ] as const)
  expect(sent.ok, JSON.stringify(sent)).toBe(true)
}

async function allSealed(tab: Tab, timeout = 60_000): Promise<void> {
  await expect
    .poll(
      () => tab.page.evaluate(() => window.blockfin!.transfers().every((t) => t.status.stage === 'sealed')),
      { timeout, message: `every transfer of ${tab.identity} sealed` },
    )
    .toBe(true)
}

test.describe('live consensus: a relay and four validator tabs', () => {
  let dataDir: string
  let relay: RelayProcess | undefined
  const tabs: Tab[] = []

  test.beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'blockfin-e2e-consensus-'))
  })
  test.afterAll(async () => {
    for (const tab of tabs.splice(0)) await tab.context.close()
    await relay?.kill('SIGTERM')
    await rm(dataDir, { recursive: true, force: true })
  })

  test('four tabs join through the invite link, seal transfers submitted to different tabs, and agree with the relay', async ({
    browser,
  }) => {
    test.setTimeout(240_000)
    relay = await startRelayProcess({ dataDir, port: await freePort() })
    await expect.poll(() => relay!.output()).toMatch(/invite\s+http:\/\/\S+\/\?join=/)
    const { invite } = await relayJson<{ invite: string }>(relay.url, '/api/status')
    for (let i = 0; i < 4; i++) tabs.push(await openTab(browser, invite))

    // Each tab joined by itself (the page carries the invite): admitted, its votes count from the
    // announced height on (blocks are made only when there is something to order, so "scheduled"
    // turns "active" with the next blocks).
    for (const tab of tabs)
      await expect
        .poll(async () => (await status(tab.page)).membership.state, { timeout: 60_000 })
        .toMatch(/^(scheduled|active)$/)
    await expect
      .poll(async () => (await status(tabs[0]!.page)).validators, { timeout: 30_000 })
      .toEqual({ n: 5, f: 1, q: 4 })
    for (const tab of tabs) await expect.poll(async () => (await status(tab.page)).balance).toBeGreaterThan(0)
    const before = await relayJson<{ accounts: Record<string, { balance: number }> }>(
      relay.url,
      '/api/accounts',
    )

    for (let round = 0; round < 2; round++)
      for (const [i, tab] of tabs.entries())
        await sendTransfer(tab, tabs[(i + 1) % tabs.length]!.identity, 10 + i)
    for (const tab of tabs) await allSealed(tab)
    for (const tab of tabs) expect((await status(tab.page)).membership.state).toBe('active')

    // The relay's ledger: each tab paid 2 × (10 + i) and received 2 × (10 + i - 1).
    await expect
      .poll(async () => {
        const { accounts } = await relayJson<{ accounts: Record<string, { balance: number }> }>(
          relay!.url,
          '/api/accounts',
        )
        return tabs.map((t) => accounts[t.identity]?.balance)
      })
      .toEqual(
        tabs.map(
          (t, i) =>
            before.accounts[t.identity]!.balance -
            2 * (10 + i) +
            2 * (10 + ((i + tabs.length - 1) % tabs.length)),
        ),
      )
    const { accounts } = await relayJson<{ accounts: Record<string, { balance: number }> }>(
      relay.url,
      '/api/accounts',
    )
    const expected = Object.fromEntries(Object.entries(accounts).map(([id, a]) => [id, a.balance]))
    for (const tab of tabs)
      await expect.poll(() => tab.page.evaluate(() => window.blockfin!.balances())).toEqual(expected)

    // The same sealed blocks (block id and state root per height) in every tab and in the relay.
    const relayBlocks = await relayJson<{
      blocks: { height: number; block: string; stateRoot: string; stage: string }[]
    }>(relay.url, '/api/blocks?limit=100')
    const relaySealed = new Map(
      relayBlocks.blocks
        .filter((b) => b.stage === 'sealed')
        .map((b) => [b.height, `${b.block} ${b.stateRoot}`]),
    )
    expect(relaySealed.size).toBeGreaterThan(0)
    for (const tab of tabs) {
      const sealed = await sealedBlocks(tab.page)
      expect(sealed.length).toBeGreaterThan(0)
      for (const b of sealed)
        if (relaySealed.has(b.height))
          expect(`${b.block} ${b.stateRoot}`, `height ${b.height}`).toBe(relaySealed.get(b.height))
    }
  })

  test('one tab closes (n = 5, f = 1): blocks keep sealing; it comes back and catches up', async () => {
    test.setTimeout(240_000)
    const gone = tabs.pop()!
    const url = gone.page.url()
    // The tab closes; its browser profile (IndexedDB: identity and feeds) stays.
    await gone.page.close()
    const sealedBefore = (await status(tabs[0]!.page)).heights.sealed

    for (const [i, tab] of tabs.entries()) await sendTransfer(tab, tabs[(i + 1) % tabs.length]!.identity, 1)
    for (const tab of tabs) await allSealed(tab)
    const sealedWhileGone = (await status(tabs[0]!.page)).heights.sealed
    expect(sealedWhileGone).toBeGreaterThan(sealedBefore)

    // It comes back in the same profile and catches up: the same sealed height and balances.
    const page = await gone.context.newPage()
    await page.goto(url)
    const back: Tab = { context: gone.context, page, identity: gone.identity }
    tabs.push(back)
    await expect.poll(async () => (await status(page)).identity).toBe(gone.identity)
    await expect
      .poll(async () => (await status(page)).heights.sealed, { timeout: 60_000 })
      .toBeGreaterThanOrEqual(sealedWhileGone)
    const reference = await tabs[0]!.page.evaluate(() => window.blockfin!.balances())
    await expect
      .poll(() => page.evaluate(() => window.blockfin!.balances()), { timeout: 30_000 })
      .toEqual(reference)
    // And it votes again: a transfer submitted to it seals.
    await sendTransfer(back, tabs[0]!.identity, 1)
    await allSealed(back)
  })
})
