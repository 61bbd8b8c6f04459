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
  relaySequence,
  startRelayProcess,
  type Tab,
  waitForFeed,
  waitForRelayFeed,
} from './network-helpers'

test.describe.configure({ mode: 'serial' })

test.describe('relay restarts', () => {
  let dataDir: string
  let relay: RelayProcess | undefined
  const tabs: Tab[] = []

  test.beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'blockfin-e2e-restart-'))
  })
  test.afterAll(async () => {
    for (const tab of tabs.splice(0)) await tab.context.close()
    await relay?.kill('SIGTERM')
    await rm(dataDir, { recursive: true, force: true })
  })

  test('after SIGKILL the relay serves every message it acknowledged, and the tabs reconnect by themselves', async ({
    browser,
  }) => {
    test.setTimeout(240_000)
    const port = await freePort()
    relay = await startRelayProcess({ dataDir, port })
    const peerId = /peer\s+(\S+)/.exec(relay.output())![1]
    const a = await openTab(browser, relay.url)
    const b = await openTab(browser, relay.url)
    tabs.push(a, b)
    // The feed begins with the validator's role certificates; the test's messages follow.
    const base = await ownHead(a)
    for (let i = 1; i <= 30; i++) await append(a, `before the crash ${i}`)
    await waitForRelayFeed(relay.url, a.identity, base + 30)
    // What the relay acknowledged: it answers with these from its store.
    const acknowledged = await relaySequence(relay.url, a.identity)

    await relay.kill('SIGKILL')
    await expect(a.page.getByTestId('relay-state')).not.toHaveAttribute('data-state', 'connected', {
      timeout: 30_000,
    })
    // The tab keeps appending while its relay is down.
    for (let i = 1; i <= 5; i++) await append(a, `while the relay is down ${i}`)

    relay = await startRelayProcess({ dataDir, port })
    // Same data directory: same peer id, so the tabs' saved address still names it.
    expect(/peer\s+(\S+)/.exec(relay.output())![1]).toBe(peerId)
    const served = await relayMessages(relay.url, a.identity)
    expect(served.length).toBeGreaterThanOrEqual(acknowledged)
    expect(served.slice(0, acknowledged).map((m) => m.sequence)).toEqual(
      Array.from({ length: acknowledged }, (_, i) => i + 1),
    )

    // Both tabs reconnect without a reload, and what was appended meanwhile arrives everywhere.
    for (const tab of tabs)
      await expect(tab.page.getByTestId('relay-state')).toHaveAttribute('data-state', 'connected', {
        timeout: 60_000,
      })
    await waitForRelayFeed(relay.url, a.identity, base + 35)
    await append(a, 'after the restart')
    await waitForRelayFeed(relay.url, a.identity, base + 36)
    await waitForFeed(b, a.identity, base + 36)
  })
})
