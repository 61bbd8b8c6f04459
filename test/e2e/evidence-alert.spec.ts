/**
 * Equivocation shows in every tab (issue 6): a relay process, three validator tabs that join by the
 * relay's invite link, and one headless validator in the test process that joins by the same link.
 * Once it is active, it signs two different precommit votes for one (height, round) with its own
 * precommitter key (nil, then a block id), straight into its feed store, as the simulator's
 * equivocating validator does; replication carries both to everyone. Every tab's Dashboard must
 * show the equivocation alert naming it, and the proof must download as JSON that names it and
 * carries both signed votes. Screenshot: test-results/screenshots/alert-equivocation.png.
 */
import '../../src/node/polyfills'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, type Page, type TestInfo, test } from '@playwright/test'
import { openLevelAdapter } from '../../relay/src/store/level-adapter'
import { type HeadlessValidator, startHeadlessValidator } from '../../relay/src/validator'
import { CONTENT, parseVote, voteContent } from '../../src/core/consensus/content'
import { decodeBase64 } from '../../src/core/encoding/base64'
import { decodeMessage } from '../../src/core/feed/decode'
import { importKeysText } from '../../src/core/identity/keys'
import { deriveRoleKeys } from '../../src/core/identity/roles'
import { digestOfText } from '../../src/core/merkle'
import { createNodeBackend, createNodeHasher } from '../../src/crypto/node'
import { REPO_ROOT } from './helpers'
import { freePort, openTab, type RelayProcess, startRelayProcess, type Tab } from './network-helpers'

test.describe.configure({ mode: 'serial' })

/** The viewport (scrolled to what matters), not the whole long dashboard. */
async function shot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  const dir = join(REPO_ROOT, 'test-results/screenshots')
  await mkdir(dir, { recursive: true })
  const path = join(dir, `${name}.png`)
  await page.screenshot({ path })
  await testInfo.attach(name, { path, contentType: 'image/png' })
}

async function sendTransfer(tab: Tab, to: string, amount: number): Promise<void> {
  const sent = await tab.page.evaluate(([to, amount]) => window.blockfin!.submitTransfer(to, amount), [
    to,
    amount,
  ] as const)
  expect(sent.ok, JSON.stringify(sent)).toBe(true)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test.describe('an equivocating validator', () => {
  let dataDir: string
  let relay: RelayProcess | undefined
  let headless: HeadlessValidator | undefined
  const tabs: Tab[] = []

  test.beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'blockfin-e2e-evidence-'))
  })
  test.afterAll(async () => {
    for (const tab of tabs.splice(0)) await tab.context.close()
    await headless?.stop().catch(() => undefined)
    await relay?.kill('SIGTERM')
    await rm(dataDir, { recursive: true, force: true })
  })

  test('is shown in every tab with a downloadable proof that names it', async ({ browser }, testInfo) => {
    test.setTimeout(240_000)
    relay = await startRelayProcess({ dataDir: join(dataDir, 'relay'), port: await freePort() })
    await expect.poll(() => relay!.output()).toMatch(/invite\s+http:\/\/\S+\/\?join=/)
    const { invite } = (await (await fetch(`${relay.url}/api/status`)).json()) as { invite: string }
    for (let i = 0; i < 3; i++) tabs.push(await openTab(browser, invite))
    for (const tab of tabs) {
      await tab.page.getByTestId('nav-dashboard').click()
      await expect(tab.page.getByTestId('live-dashboard')).toBeVisible()
    }

    // The headless validator: same code as `blockfin-validator`, in this process.
    const validatorDir = join(dataDir, 'culprit')
    const started = await startHeadlessValidator(
      { dataDir: validatorDir, relay: relay.url },
      {
        ed25519: createNodeBackend(),
        hasher: createNodeHasher(),
        randomBytes: (n) => new Uint8Array(randomBytes(n)),
        now: () => Date.now(),
        fetch: (...a) => fetch(...a),
        openFeedAdapter: openLevelAdapter,
      },
    )
    if (!started.ok) throw new Error(JSON.stringify(started.error))
    headless = started.value
    const v = headless
    const joined = await v.join(invite, { timeoutMs: 120_000 })
    expect(joined.ok, JSON.stringify(joined)).toBe(true)

    // Until it is active (in the set of the next height) and every tab has it in that set too.
    const inNextSet = () =>
      v.runtime.view.setAt(v.runtime.status().committedHeight + 1)?.validatorSet.has(v.id)
    for (let i = 0; !inNextSet(); i++) {
      expect(i, 'the headless validator becomes active').toBeLessThan(60)
      await sendTransfer(tabs[i % 3]!, tabs[(i + 1) % 3]!.identity, 1)
      await sleep(1_000)
    }
    for (const tab of tabs)
      await expect
        .poll(() => tab.page.getByTestId('validator-set').getAttribute('data-n'), {
          timeout: 60_000,
          message: 'every tab counts 5 validators (the relay, 3 tabs, the headless one)',
        })
        .toBe('5')

    // Its keys, as anyone holding its identity file has them; the precommitter role key.
    const owner = importKeysText(await readFile(join(validatorDir, 'identity.json'), 'utf8'))
    if (!owner.ok) throw new Error(owner.error.reason)
    expect(owner.value.id).toBe(v.id)
    const precommitter = deriveRoleKeys(owner.value, 'precommitter')

    // The height the network is about to vote on: the next one after what it committed. Its honest
    // core has not voted there yet (no block is being made while idle); it signs nil and a block id.
    const height = v.runtime.status().committedHeight + 1
    const round = 0
    const block = digestOfText(`a block nobody proposed at ${height}`)
    const first = await v.store.publish(
      precommitter,
      voteContent({ stage: 'precommit', height, round, block: null, stateRoot: null, resultsRoot: null }),
      Date.now(),
    )
    expect(first.ok, JSON.stringify(first)).toBe(true)
    const second = await v.store.publish(
      precommitter,
      voteContent({ stage: 'precommit', height, round, block, stateRoot: null, resultsRoot: null }),
      Date.now(),
    )
    expect(second.ok, JSON.stringify(second)).toBe(true)
    // Both are in its precommitter feed, one after the other.
    const networkKey = decodeBase64(v.network.key, 32)!
    const head = v.store.head(precommitter.id)!.sequence
    const lastTwo = (await v.store.range(precommitter.id, head - 1, head)).map((t) => {
      const d = decodeMessage(t, networkKey)
      if (!d.ok) throw new Error(d.error.code)
      return d.value.value.content
    })
    expect(lastTwo.map((c) => c.type)).toEqual([CONTENT.precommit, CONTENT.precommit])
    expect(lastTwo.map((c) => parseVote(c)?.block)).toEqual([null, block])

    // Blocks keep coming (the vote at `height` goes on among the honest ones).
    await sendTransfer(tabs[0]!, tabs[1]!.identity, 2)

    for (const [i, tab] of tabs.entries()) {
      const alert = tab.page.locator(
        `[data-testid="alert"][data-kind="equivocation"][data-culprit="${v.id}"]`,
      )
      await expect(alert, `tab ${i} shows the equivocation alert`).toBeVisible({ timeout: 60_000 })
      await expect(alert).toContainText('Equivocation: a validator voted twice')
      await expect(alert).toContainText(`block ${height}, round ${round}`)
    }

    // The proof downloads from every tab, names the culprit and carries both signed votes.
    for (const [i, tab] of tabs.entries()) {
      const alert = tab.page.locator(
        `[data-testid="alert"][data-kind="equivocation"][data-culprit="${v.id}"]`,
      )
      const download = tab.page.waitForEvent('download')
      await alert.getByTestId('alert-download').first().click()
      const file = await (await download).path()
      const proof = JSON.parse(await readFile(file, 'utf8')) as {
        type: string
        owner: string
        stage: string
        height: number
        round: number
        messages: string[]
        bindings: string[]
      }
      expect(proof.type, `tab ${i}`).toBe('blockfin/vote-evidence')
      expect(proof.owner).toBe(v.id)
      expect(proof.stage).toBe('precommit')
      expect(proof.height).toBe(height)
      expect(proof.round).toBe(round)
      expect(proof.messages).toHaveLength(2)
      const blocks = proof.messages.map((t) => {
        const d = decodeMessage(t, networkKey)
        if (!d.ok) throw new Error(d.error.code)
        expect(d.value.value.author).toBe(precommitter.id)
        return parseVote(d.value.value.content)?.block
      })
      // Two different votes for one (height, round). Its honest core may have voted there too (a
      // real block is proposed at that height), so the pair is any two of {nil, the made-up block,
      // the real block}, at least one of them the test's.
      expect(blocks[0]).not.toEqual(blocks[1])
      expect(blocks.some((b) => b === null || b === block)).toBe(true)
      // The role certificate and its acceptance: the precommitter key is the culprit's.
      expect(proof.bindings.length).toBeGreaterThanOrEqual(2)
    }

    const page = tabs[0]!.page
    await page.getByTestId('dashboard-status').evaluate((el) => el.scrollIntoView({ block: 'start' }))
    await shot(page, testInfo, 'alert-equivocation')

    // The evidence goes into a block: the culprit leaves the validator set, the rest keeps sealing.
    await sendTransfer(tabs[1]!, tabs[2]!.identity, 3)
    for (const tab of tabs)
      await expect
        .poll(() => tab.page.getByTestId('validator-set').getAttribute('data-n'), {
          timeout: 60_000,
          message: 'the culprit is removed from the validator set',
        })
        .toBe('4')
    await sendTransfer(tabs[2]!, tabs[0]!.identity, 4)
    for (const tab of tabs)
      await expect
        .poll(
          () =>
            tab.page.evaluate(() => window.blockfin!.transfers().every((t) => t.status.stage === 'sealed')),
          { timeout: 60_000, message: `every transfer of ${tab.identity} sealed` },
        )
        .toBe(true)
  })
})
