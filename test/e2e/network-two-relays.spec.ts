import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from '@playwright/test'
import {
  append,
  freePort,
  openTab,
  type RelayProcess,
  startRelayProcess,
  type Tab,
  waitForFeed,
  waitForRelayFeed,
} from './network-helpers'

interface Status {
  network: { id: string }
  relay: { id: string }
  p2p: { peerRelays: { target: string; state: string }[]; follows: { feeds: string[] } }
}

test.describe.configure({ mode: 'serial' })

test.describe('two relays on one machine', () => {
  let base: string
  const relays: RelayProcess[] = []
  const tabs: Tab[] = []

  test.beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'blockfin-e2e-two-relays-'))
  })
  test.afterAll(async () => {
    for (const tab of tabs.splice(0)) await tab.context.close()
    for (const relay of relays.splice(0)) await relay.kill('SIGTERM')
    await rm(base, { recursive: true, force: true })
  })

  test('the second joins the first network, their Messagenodes follow each other, and a tab on each sees the other', async ({
    browser,
  }) => {
    test.setTimeout(240_000)
    const first = await startRelayProcess({ dataDir: join(base, 'a'), port: await freePort() })
    relays.push(first)
    const second = await startRelayProcess({
      dataDir: join(base, 'b'),
      port: await freePort(),
      env: { BLOCKFIN_JOIN: first.url },
    })
    relays.push(second)
    const statusA = (await (await fetch(`${first.url}/api/status`)).json()) as Status
    const statusB = (await (await fetch(`${second.url}/api/status`)).json()) as Status
    expect(statusB.network.id).toBe(statusA.network.id)
    expect(statusB.relay.id).not.toBe(statusA.relay.id)
    expect(statusB.p2p.peerRelays).toEqual([{ target: first.url, state: expect.any(String) }])

    // Each relay holds the other's Messagenode feed, and its own Messagenode follows it.
    await waitForRelayFeed(first.url, statusB.relay.id, 5)
    await waitForRelayFeed(second.url, statusA.relay.id, 5)
    await expect
      .poll(async () => ((await (await fetch(`${first.url}/api/status`)).json()) as Status).p2p.follows.feeds)
      .toContain(statusB.relay.id)
    await expect
      .poll(
        async () => ((await (await fetch(`${second.url}/api/status`)).json()) as Status).p2p.follows.feeds,
      )
      .toContain(statusA.relay.id)

    const onFirst = await openTab(browser, first.url)
    const onSecond = await openTab(browser, second.url)
    tabs.push(onFirst, onSecond)
    await append(onFirst, 'written next to the first relay')
    await append(onSecond, 'written next to the second relay')
    await waitForRelayFeed(second.url, onFirst.identity, 1)
    await waitForRelayFeed(first.url, onSecond.identity, 1)
    await waitForFeed(onSecond, onFirst.identity, 1)
    await waitForFeed(onFirst, onSecond.identity, 1)
  })
})
