/**
 * The wallet and joining by link, through the UI (issue 6): a relay process and three validator
 * tabs; a participant opens the relay's invite link in a fresh browser context, goes through
 * onboarding, watches the join progress on the Dashboard reach "admitted" (scheduled) or active,
 * sends a transfer by typing into the Wallet's form and sees it reach "sealed"; a reload keeps its
 * identity, feeds, balances and the sent transfer (still sealed). The wallet form's bad inputs and a malformed or other-network
 * invite show their messages. Screenshots of each screen go to test-results/screenshots/.
 */
import { mkdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { expect, type Page, type TestInfo, test } from '@playwright/test'
import { FEED_ID, finishOnboarding, REPO_ROOT } from './helpers'
import { freePort, openTab, type RelayProcess, startRelayProcess, type Tab } from './network-helpers'

test.describe.configure({ mode: 'serial' })

const SHOTS = resolve(REPO_ROOT, 'test-results/screenshots')

async function shot(page: Page, testInfo: TestInfo, name: string, fullPage = true): Promise<void> {
  mkdirSync(SHOTS, { recursive: true })
  const path = resolve(SHOTS, `${name}.png`)
  await page.screenshot({ path, fullPage })
  await testInfo.attach(name, { path, contentType: 'image/png' })
}

const membershipOf = (page: Page) =>
  page.evaluate(async () => {
    await window.blockfin!.ready
    return window.blockfin!.status().membership.state
  })

/** Types a transfer into the wallet form and clicks Send. */
async function sendInForm(page: Page, recipient: string, amount: string): Promise<void> {
  await page.getByTestId('send-recipient').fill(recipient)
  await page.getByTestId('send-amount').fill(amount)
  await page.getByTestId('send-button').click()
}

/**
 * Until `page`'s validator is active, the other tabs send each other 1 unit now and then (through
 * window.blockfin), so that blocks are made and the participant's admission takes effect.
 */
async function nudgeUntilActive(page: Page, tabs: readonly Tab[], timeout = 120_000): Promise<void> {
  const deadline = Date.now() + timeout
  for (let i = 0; (await membershipOf(page)) !== 'active'; i++) {
    if (Date.now() > deadline) throw new Error('the participant did not become active')
    const from = tabs[i % tabs.length]!
    const to = tabs[(i + 1) % tabs.length]!.identity
    const sent = await from.page.evaluate((to) => window.blockfin!.submitTransfer(to, 1), to)
    expect(sent.ok, JSON.stringify(sent)).toBe(true)
    await expect
      .poll(
        () =>
          from.page.evaluate(() => window.blockfin!.transfers().every((t) => t.status.stage === 'sealed')),
        {
          timeout: 60_000,
        },
      )
      .toBe(true)
  }
}

test.describe('wallet and joining by link, through the UI', () => {
  let dataDir: string
  let relay: RelayProcess | undefined
  let invite = ''
  let networkId = ''
  const validators: Tab[] = []
  let participant: Tab | undefined

  test.beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'blockfin-e2e-wallet-'))
  })
  test.afterAll(async () => {
    await participant?.context.close()
    for (const tab of validators.splice(0)) await tab.context.close()
    await relay?.kill('SIGTERM')
    await rm(dataDir, { recursive: true, force: true })
  })

  test('a participant joins by the invite link, sends a transfer in the wallet and sees it sealed', async ({
    browser,
  }, testInfo) => {
    test.setTimeout(300_000)
    relay = await startRelayProcess({ dataDir, port: await freePort() })
    const status = (await (await fetch(`${relay.url}/api/status`)).json()) as {
      invite: string
      network: { id: string }
    }
    invite = status.invite
    networkId = status.network.id
    expect(invite).toMatch(/\/\?join=[A-Za-z0-9_-]{22}&network=/)

    // Three tabs validate beside the relay's own validator.
    for (let i = 0; i < 3; i++) validators.push(await openTab(browser, invite))
    for (const tab of validators)
      await expect.poll(() => membershipOf(tab.page), { timeout: 90_000 }).toMatch(/^(scheduled|active)$/)

    // The relay's page shows its invite link and a QR code of it.
    const host = validators[0]!.page
    await expect(host.getByTestId('invite-panel')).toHaveAttribute('data-state', 'invite')
    await expect(host.getByTestId('invite-link')).toHaveValue(invite)
    await expect(host.getByTestId('invite-qr')).toHaveAttribute('data-ready', 'true')
    await expect(host.locator('[data-testid="invite-qr"] svg path')).toHaveAttribute('d', /^M\d/)
    await shot(host, testInfo, 'invite-qr', false)

    // The participant: a fresh browser context opens the invite link.
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } })
    const page = await context.newPage()
    await page.goto(invite)
    const idText = page.getByTestId('identity-id')
    await expect(idText).toHaveText(FEED_ID)
    const identity = (await idText.textContent())!.trim()
    await finishOnboarding(page)
    participant = { context, page, identity }

    // Join progress on the Dashboard: connected → sent → registered → admitted (active from N).
    const panel = page.getByTestId('join-panel')
    await expect(panel).toBeVisible()
    await expect(panel).toHaveAttribute('data-state', /^(joining|registered|scheduled|active)$/, {
      timeout: 30_000,
    })
    await expect(panel).toHaveAttribute('data-state', /^(scheduled|active)$/, { timeout: 90_000 })
    // Scheduled ("active from block N") turns active within a few blocks (the Messagenode makes
    // empty blocks up to that height), so either state may be the one seen here.
    await expect(page.getByTestId('join-error')).toHaveCount(0)
    await shot(page, testInfo, 'join-progress', false)

    // The wallet: the welcome grant arrives with the admission.
    await page.getByTestId('nav-wallet').click()
    const balance = page.getByTestId('wallet-balance')
    await expect
      .poll(async () => Number(await balance.getAttribute('data-value')), { timeout: 60_000 })
      .toBeGreaterThan(0)
    const before = Number(await balance.getAttribute('data-value'))
    await expect(page.getByTestId('transfers-empty')).toBeVisible()
    await expect(page.locator(`[data-testid="account-row"][data-account="${identity}"]`)).toContainText('you')

    // Bad inputs: a sentence each, nothing stored, nothing sent.
    const error = page.getByTestId('send-error')
    const recipient = validators[0]!.identity
    await sendInForm(page, '', '5')
    await expect(error).toHaveAttribute('data-code', 'RECIPIENT_INVALID')
    await expect(error).toContainText('Enter the recipient')
    await sendInForm(page, 'bob', '5')
    await expect(error).toContainText('"bob" is not an account id')
    await sendInForm(page, recipient, '0')
    await expect(error).toHaveAttribute('data-code', 'AMOUNT_INVALID')
    await expect(error).toContainText('must be greater than 0')
    await sendInForm(page, recipient, '-3')
    await expect(error).toContainText('whole number greater than 0 (you entered "-3")')
    await sendInForm(page, recipient, '2.5')
    await expect(error).toContainText('whole number greater than 0 (you entered "2.5")')
    await sendInForm(page, recipient, String(before + 1))
    await expect(error).toHaveAttribute('data-code', 'INSUFFICIENT_BALANCE')
    await expect(error).toContainText(`You can send at most ${before.toLocaleString('en-US')} now`)
    await shot(page, testInfo, 'wallet-bad-amount')
    await expect(page.getByTestId('transfer-row')).toHaveCount(0)
    expect(await page.evaluate(() => window.blockfin!.transfers().length)).toBe(0)

    // A real transfer, picked from the accounts list, typed and sent; followed to sealed.
    await page
      .locator(`[data-testid="account-row"][data-account="${recipient}"] [data-testid="account-pick"]`)
      .click()
    await expect(page.getByTestId('send-recipient')).toHaveValue(recipient)
    await page.getByTestId('send-amount').fill('25')
    await page.getByTestId('send-button').click()
    await expect(page.getByTestId('send-ok')).toContainText('Submitted: 25 to')
    const row = page.getByTestId('transfer-row')
    await expect(row).toHaveCount(1)
    await expect(row).toHaveAttribute('data-to', recipient)
    await expect(row).toHaveAttribute('data-stage', /^(submitted|executed|sealed)$/)
    // Blocks take transfers only from active validators' feeds, and are made only when an active
    // validator has something to order: until the participant's admission takes effect, the other
    // tabs' transfers make the blocks (the form says the transfer waits).
    if ((await membershipOf(page)) !== 'active') {
      await expect(page.getByTestId('send-wait')).toBeVisible()
      await shot(page, testInfo, 'wallet-waiting')
    }
    await nudgeUntilActive(page, validators)
    await expect(page.getByTestId('send-wait')).toHaveCount(0)
    await expect(row).toHaveAttribute('data-stage', 'sealed', { timeout: 90_000 })
    await expect(row.getByTestId('transfer-status')).toContainText(/Sealed in block \d+: final/)
    await expect.poll(async () => Number(await balance.getAttribute('data-value'))).toBe(before - 25)
    await expect(page.getByTestId('wallet-available')).toHaveAttribute('data-value', String(before - 25))
    expect(await membershipOf(page)).toBe('active')
    await shot(page, testInfo, 'wallet-sealed')
    for (const tab of validators)
      await expect
        .poll(
          () =>
            tab.page.evaluate(() => window.blockfin!.transfers().every((t) => t.status.stage === 'sealed')),
          { timeout: 60_000 },
        )
        .toBe(true)

    // Reload: the same identity, its feed and the same balances.
    const balancesBefore = await page.evaluate(() => window.blockfin!.balances())
    const ownFeed = await page.evaluate(
      (id) => window.blockfin!.feeds().find((f) => f.id === id)?.sequence ?? 0,
      identity,
    )
    expect(ownFeed).toBeGreaterThan(0)
    await page.reload()
    await expect(idText).toHaveText(identity)
    await expect(page.getByTestId('onboarding')).toHaveCount(0)
    await expect
      .poll(() =>
        page.evaluate(async (id) => {
          await window.blockfin!.ready
          return window.blockfin!.feeds().find((f) => f.id === id)?.sequence ?? 0
        }, identity),
      )
      .toBeGreaterThanOrEqual(ownFeed)
    await expect
      .poll(() => page.evaluate(() => window.blockfin!.balances()), { timeout: 60_000 })
      .toEqual(balancesBefore)
    await page.getByTestId('nav-wallet').click()
    await expect(balance).toHaveAttribute('data-value', String(before - 25))
    // The sent transfer is still listed, sealed: the wallet rebuilt it from the replayed feeds.
    await expect(row).toHaveCount(1)
    await expect(row).toHaveAttribute('data-to', recipient)
    await expect(row).toHaveAttribute('data-amount', '25')
    await expect(row).toHaveAttribute('data-stage', 'sealed')
    await expect(row.getByTestId('transfer-status')).toContainText(/Sealed in block \d+: final/)
    expect(
      await page.evaluate(() => window.blockfin!.transfers().map((t) => [t.amount, t.status.stage])),
    ).toEqual([[25, 'sealed']])
    await shot(page, testInfo, 'wallet-after-reload')
    await expect(page.locator(`[data-testid="account-row"][data-account="${recipient}"]`)).toHaveAttribute(
      'data-balance',
      String(balancesBefore[recipient]),
    )
    // A long history shows one page at a time, newest first.
    const more = await page.evaluate(
      (to) => window.blockfin!.submitTransfers(Array.from({ length: 24 }, () => ({ to, amount: 1 }))),
      recipient,
    )
    expect(more.ok).toBe(true)
    await expect(row).toHaveCount(20)
    await expect(page.getByTestId('transfer-page')).toHaveText('1–20 of 25')
    await expect(row.first()).toHaveAttribute('data-amount', '1')
    await page.getByTestId('transfer-pager').getByRole('button', { name: 'Older' }).click()
    await expect(page.getByTestId('transfer-page')).toHaveText('21–25 of 25')
    await expect(row).toHaveCount(5)
    await expect(row.last()).toHaveAttribute('data-amount', '25')
    await page.getByTestId('nav-dashboard').click()
    await expect(page.getByTestId('join-panel')).toHaveAttribute('data-state', 'active', { timeout: 30_000 })
  })

  test('a malformed invite link and one for another network say so', async ({ browser }, testInfo) => {
    test.setTimeout(120_000)
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } })
    try {
      const page = await context.newPage()
      // The link was cut short: the invite id lost its end.
      const cut = invite.replace(/join=([A-Za-z0-9_-]{10})[A-Za-z0-9_-]+/, 'join=$1')
      await page.goto(cut)
      await expect(page.getByTestId('identity-id')).toHaveText(FEED_ID)
      await finishOnboarding(page)
      const pageError = page.locator('[data-testid="join-error"][data-source="page"]')
      await expect(pageError).toHaveAttribute('data-code', 'INVITE_MALFORMED')
      await expect(pageError).toContainText('The invite link this page was opened with does not work.')
      await expect(pageError).toContainText('join is not an invite id')
      // The failure is the membership itself (window.blockfin says the same), and no steps show.
      await expect(page.getByTestId('join-panel')).toHaveAttribute('data-state', 'join-failed')
      expect(
        await page.evaluate(() => {
          const m = window.blockfin!.status().membership
          return m.state === 'join-failed' ? m.code : m.state
        }),
      ).toBe('INVITE_MALFORMED')
      await expect(page.getByTestId('join-progress')).toHaveCount(0)

      // A link for another network, pasted into the field.
      const other = `%${networkId.slice(1, 43)}${networkId[43] === 'A' ? 'E' : 'A'}=.sha256`
      const foreign = invite.replace(/network=[^&]+/, `network=${encodeURIComponent(other)}`)
      await page.getByTestId('join-link').fill(foreign)
      await page.getByTestId('join-button').click()
      const pasted = page.locator('[data-testid="join-error"][data-source="pasted"]')
      await expect(pasted).toHaveAttribute('data-code', 'INVITE_WRONG_NETWORK')
      await expect(pasted).toContainText('This invite link is for another network')
      await page.getByTestId('join-link').fill('not a link')
      await page.getByTestId('join-button').click()
      await expect(pasted).toHaveAttribute('data-code', 'INVITE_MALFORMED')
      await page.getByTestId('join-link').fill(foreign)
      await page.getByTestId('join-button').click()
      await expect(pasted).toHaveAttribute('data-code', 'INVITE_WRONG_NETWORK')
      // One failure at a time: the new attempt replaced the page's.
      await expect(page.getByTestId('join-error')).toHaveCount(1)
      await expect(page.getByTestId('join-panel')).toHaveAttribute('data-state', 'join-failed')
      await shot(page, testInfo, 'join-bad-links', false)
    } finally {
      await context.close()
    }
  })
})
