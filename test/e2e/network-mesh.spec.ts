import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from '@playwright/test'
import {
  append,
  connections,
  freePort,
  openTab,
  type RelayProcess,
  startRelayProcess,
  type Tab,
  waitForFeed,
  waitForRelayFeed,
} from './network-helpers'

test.describe.configure({ mode: 'serial' })

test.describe('a relay and four tabs', () => {
  let dataDir: string
  let relay: RelayProcess | undefined
  const tabs: Tab[] = []

  test.beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'blockfin-e2e-mesh-'))
  })
  test.afterAll(async () => {
    for (const tab of tabs.splice(0)) await tab.context.close()
    await relay?.kill('SIGTERM')
    await rm(dataDir, { recursive: true, force: true })
  })

  test('every tab feed reaches the relay and every other tab; tabs connect directly over WebRTC; data flows tab to tab while the relay is down', async ({
    browser,
  }) => {
    test.setTimeout(240_000)
    relay = await startRelayProcess({ dataDir, port: await freePort() })
    for (let i = 0; i < 4; i++) tabs.push(await openTab(browser, relay.url))

    for (const [i, tab] of tabs.entries()) await append(tab, `hello from tab ${i}`)
    for (const tab of tabs) {
      await waitForRelayFeed(relay.url, tab.identity, 1)
      for (const other of tabs) await waitForFeed(other, tab.identity, 1)
    }
    for (const tab of tabs) {
      await expect(tab.page.getByTestId('connection-state')).toHaveAttribute('data-state', 'online')
      await expect(tab.page.getByTestId('sync-state')).toHaveAttribute('data-state', 'syncing')
    }

    // At least one direct WebRTC connection between two tabs: a /webrtc address, no relay limit.
    const peerIds = new Map<string, Tab>()
    for (const tab of tabs) peerIds.set((await tab.page.getByTestId('peer-id').textContent())!.trim(), tab)
    let direct: { from: Tab; to: Tab } | undefined
    await expect
      .poll(
        async () => {
          for (const tab of tabs)
            for (const c of await connections(tab))
              if (
                c.transport === 'webrtc' &&
                !c.limited &&
                c.addr.includes('/webrtc') &&
                peerIds.has(c.peer)
              ) {
                direct = { from: tab, to: peerIds.get(c.peer)! }
                return true
              }
          return false
        },
        { timeout: 60_000, message: 'a direct WebRTC connection between two tabs' },
      )
      .toBe(true)
    // No tab ever made hundreds of RTCPeerConnections.
    for (const tab of tabs)
      expect(Number(await tab.page.getByTestId('rtc-count').textContent())).toBeLessThanOrEqual(40)

    // The relay goes away; the two directly connected tabs keep replicating to each other.
    await relay.kill('SIGTERM')
    relay = undefined
    const { from, to } = direct!
    await expect(from.page.getByTestId('relay-state')).not.toHaveAttribute('data-state', 'connected', {
      timeout: 30_000,
    })
    await append(from, 'sent while the relay is down')
    await waitForFeed(to, from.identity, 2)
    const stillDirect = (await connections(to)).some((c) => c.transport === 'webrtc' && c.peer !== '')
    expect(stillDirect).toBe(true)
  })
})
