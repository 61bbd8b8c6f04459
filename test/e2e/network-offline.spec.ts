import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from '@playwright/test'
import {
  append,
  freePort,
  openTab,
  ownHead,
  type RelayProcess,
  relayMessages,
  startRelayProcess,
  type Tab,
  waitForFeed,
  waitForRelayFeed,
} from './network-helpers'

test.describe.configure({ mode: 'serial' })

test.describe('offline first', () => {
  let dataDir: string
  let relay: RelayProcess | undefined
  const tabs: Tab[] = []

  test.beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'blockfin-e2e-offline-'))
  })
  test.afterAll(async () => {
    for (const tab of tabs.splice(0)) await tab.context.close()
    await relay?.kill('SIGTERM')
    await rm(dataDir, { recursive: true, force: true })
  })

  test('a tab offline appends 200 messages, comes back, and every copy converges with no gap', async ({
    browser,
  }) => {
    test.setTimeout(300_000)
    relay = await startRelayProcess({ dataDir, port: await freePort() })
    const a = await openTab(browser, relay.url)
    const b = await openTab(browser, relay.url)
    tabs.push(a, b)
    // The feed begins with the validator's role certificates; the test's messages follow.
    const base = await ownHead(a)
    expect(base).toBe(4)
    await append(a, 'before going offline')
    await waitForRelayFeed(relay.url, a.identity, base + 1)
    await waitForFeed(b, a.identity, base + 1)

    await a.context.setOffline(true)
    await expect(a.page.getByTestId('offline-badge')).toBeVisible()
    await expect(a.page.getByTestId('connection-state')).toHaveAttribute('data-state', 'offline', {
      timeout: 30_000,
    })
    await expect(a.page.getByTestId('sync-state')).toHaveAttribute('data-state', 'appending locally', {
      timeout: 30_000,
    })
    for (let i = 1; i <= 200; i++) await append(a, `offline message ${i}`)
    // Nothing left the tab while it was offline.
    expect(await relayMessages(relay.url, a.identity)).toHaveLength(base + 1)

    await a.context.setOffline(false)
    await expect(a.page.getByTestId('connection-state')).toHaveAttribute('data-state', 'online', {
      timeout: 60_000,
    })
    const head = base + 201
    await waitForRelayFeed(relay.url, a.identity, head, 120_000)
    await waitForFeed(b, a.identity, head, 120_000)

    // The relay's copy: sequences 1..head, each linked to the one before.
    const messages = (await relayMessages(relay.url, a.identity)) as unknown as {
      sequence: number
      previous: string | null
    }[]
    expect(messages.map((m) => m.sequence)).toEqual(Array.from({ length: head }, (_, i) => i + 1))
    expect(messages[0]!.previous).toBeNull()
    for (const m of messages.slice(1)) expect(m.previous).toMatch(/^%.+\.sha256$/)
    // The other tab's copy ends at the same head.
    await expect(
      b.page.locator(`[data-testid="replicated-feed"][data-feed="${a.identity}"]`),
    ).toHaveAttribute('data-sequence', String(head))
  })
  test('a tab loaded offline runs without libp2p, says so, and starts it once the browser is online', async ({
    browser,
  }) => {
    test.setTimeout(180_000)
    relay ??= await startRelayProcess({ dataDir, port: await freePort() })
    const tab = await openTab(browser, relay.url)
    tabs.push(tab)
    // The service worker controls the page, so a reload works offline.
    await tab.page.evaluate(async () => {
      await navigator.serviceWorker.ready
      if (!navigator.serviceWorker.controller)
        await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve))
    })
    await tab.context.setOffline(true)
    await tab.page.reload()
    await expect(tab.page.getByTestId('identity-id')).toHaveText(tab.identity)
    await expect(tab.page.getByTestId('node-state')).toHaveAttribute('data-state', 'waiting for network')
    await expect(tab.page.getByTestId('connection-state')).toHaveAttribute('data-state', 'offline')
    await expect(tab.page.getByTestId('sync-state')).toHaveAttribute('data-state', 'appending locally')
    await append(tab, 'signed before libp2p ever started')

    await tab.context.setOffline(false)
    await expect(tab.page.getByTestId('node-state')).toHaveAttribute('data-state', 'running', {
      timeout: 60_000,
    })
    await expect(tab.page.getByTestId('relay-state')).toHaveAttribute('data-state', 'connected', {
      timeout: 60_000,
    })
    await waitForRelayFeed(relay.url, tab.identity, 1)
  })
})
