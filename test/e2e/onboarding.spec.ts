import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { expect, type Page, type TestInfo, test } from '@playwright/test'
import { appendMessage, FEED_ID, feedRows, keepScreenshot, openApp, REPO_ROOT } from './helpers'

/** Keeps a screenshot in test-results/screenshots/ and attaches it to the test's report. */
async function shot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  await keepScreenshot(page, name)
  await testInfo.attach(name, {
    path: resolve(REPO_ROOT, 'test-results/screenshots', `${name}.png`),
    contentType: 'image/png',
  })
}

/** Waits for the session; returns the identity the page shows (the Identity section's). */
async function identityOf(page: Page): Promise<string> {
  const id = page.getByTestId('identity-id')
  await expect(id).toHaveText(FEED_ID)
  return (await id.textContent())!.trim()
}

test('first visit: keep the new identity, download and confirm its backup, see storage and roles; not asked again', async ({
  page,
}, testInfo) => {
  await page.goto('/')
  const id = await identityOf(page)
  const onboarding = page.getByTestId('onboarding')
  await expect(onboarding).toHaveAttribute('data-step', 'welcome')
  await expect(page.getByTestId('onboarding-identity-id')).toHaveText(id)
  // The app's sections and their navigation wait until onboarding is done.
  await expect(page.getByTestId('nav')).toHaveCount(0)
  await expect(page.getByTestId('app-sections')).toBeHidden()
  await shot(page, testInfo, 'onboarding')

  await page.getByTestId('onboarding-create').click()
  await expect(onboarding).toHaveAttribute('data-step', 'backup')
  await expect(page.getByTestId('backup-warning')).toContainText('Whoever has the identity file can sign as')
  await expect(page.getByTestId('backup-warning')).toContainText('the validator is lost')
  // Nothing to confirm before the file was downloaded.
  await expect(page.getByTestId('backup-confirm')).toBeDisabled()
  await expect(page.getByTestId('backup-continue')).toBeDisabled()
  await shot(page, testInfo, 'onboarding-backup')

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('backup-download').click(),
  ])
  expect(download.suggestedFilename()).toMatch(/^blockfin-identity-.*\.json$/)
  const file = JSON.parse(await readFile((await download.path())!, 'utf8')) as Record<string, string>
  expect(Object.keys(file)).toEqual(['curve', 'public', 'private', 'id'])
  expect(file.id).toBe(id)
  await expect(page.getByTestId('backup-continue')).toBeDisabled()
  await page.getByTestId('backup-confirm').check()
  await page.getByTestId('backup-continue').click()

  await expect(onboarding).toHaveAttribute('data-step', 'ready')
  // navigator.storage.persist() was asked; headless Chromium may grant it or not: either is shown.
  await expect(onboarding.getByTestId('storage-status')).toHaveAttribute(
    'data-persistence',
    /^(granted|not granted)$/,
  )
  await expect(onboarding.getByTestId('storage-persistence')).toContainText('Persistent storage:')
  await expect(onboarding.getByTestId('storage-usage')).toContainText(
    /This site uses .+ of the .+ the browser allows it/,
  )
  await expect(page.getByTestId('onboarding-role-row')).toHaveCount(4)
  await expect(page.getByTestId('onboarding-role-name')).toHaveText([
    'transaction-validator',
    'precommitter',
    'committer',
    'sealer',
  ])
  for (const code of await page.locator('[data-testid^="onboarding-role-"] code').allTextContents())
    expect(code).toMatch(FEED_ID)
  await shot(page, testInfo, 'onboarding-ready')

  await page.getByTestId('onboarding-finish').click()
  await expect(onboarding).toHaveCount(0)
  await expect(page).toHaveURL(/\/#\/dashboard$/)
  await expect(page.getByTestId('section-dashboard')).toBeVisible()
  await expect(page.getByTestId('feed-panel')).toBeVisible()

  // Remembered in this browser: a reload goes straight to the app.
  await page.reload()
  await expect(page.getByTestId('identity-id')).toHaveText(id)
  await expect(page.getByTestId('onboarding')).toHaveCount(0)
  await page.getByTestId('nav-identity').click()
  await expect(page.getByTestId('backup-status')).toHaveAttribute('data-state', 'confirmed')
  await expect(page.getByTestId('role-row')).toHaveCount(4)
  await expect(page.getByTestId('storage-panel').getByTestId('storage-persistence')).toBeVisible()
  await shot(page, testInfo, 'identity')
})

test('first visit: importing an identity file instead checks it first, shows the typed reason, asks, then replaces', async ({
  page,
  browser,
}, testInfo) => {
  // An identity someone already has: made in another browser, its file downloaded.
  const elsewhere = await browser.newContext()
  let text: string
  let existing: string
  try {
    const other = await elsewhere.newPage()
    existing = await openApp(other)
    await other.getByTestId('nav-identity').click()
    const [download] = await Promise.all([
      other.waitForEvent('download'),
      other.getByTestId('export-identity').click(),
    ])
    text = await readFile((await download.path())!, 'utf8')
  } finally {
    await elsewhere.close()
  }

  await page.goto('/')
  const created = await identityOf(page)
  expect(created).not.toBe(existing)
  await page.getByTestId('onboarding-import-file').setInputFiles({
    name: 'broken.json',
    mimeType: 'application/json',
    buffer: Buffer.from(JSON.stringify({ curve: 'ed25519', public: 'nope' })),
  })
  const error = page.getByTestId('onboarding-import-error')
  await expect(error).toHaveAttribute('data-code', 'IDENTITY_MALFORMED')
  await expect(error).toContainText('This file is not a valid identity')
  await expect(error).toContainText('Nothing was changed.')
  await expect(page.getByTestId('onboarding')).toHaveAttribute('data-step', 'welcome')
  await shot(page, testInfo, 'onboarding-import-error')

  await page.getByTestId('onboarding-import-file').setInputFiles({
    name: 'mine.json',
    mimeType: 'application/json',
    buffer: Buffer.from(text),
  })
  await expect(page.getByTestId('onboarding-import-confirmation')).toContainText(
    "Replace this browser's identity?",
  )
  // Nothing is stored before the person confirms.
  await expect(page.getByTestId('identity-id')).toHaveText(created)
  await page.getByTestId('onboarding-import-confirm').click()
  await expect(page.getByTestId('onboarding')).toHaveAttribute('data-step', 'ready')
  await expect(page.getByTestId('onboarding-summary')).toContainText(existing)
  await expect(page.getByTestId('identity-id')).toHaveText(existing)
  await page.getByTestId('onboarding-finish').click()

  // The imported file is its backup: not asked again.
  await page.reload()
  await expect(page.getByTestId('identity-id')).toHaveText(existing)
  await expect(page.getByTestId('onboarding')).toHaveCount(0)
})

test('importing over an existing identity and cancelling keeps it', async ({ page, browser }) => {
  const elsewhere = await browser.newContext()
  let text: string
  try {
    const other = await elsewhere.newPage()
    await openApp(other)
    await other.getByTestId('nav-identity').click()
    const [download] = await Promise.all([
      other.waitForEvent('download'),
      other.getByTestId('export-identity').click(),
    ])
    text = await readFile((await download.path())!, 'utf8')
  } finally {
    await elsewhere.close()
  }

  const id = await openApp(page)
  await appendMessage(page, 'mine')
  await page.getByTestId('nav-identity').click()
  await page.getByTestId('import-file').setInputFiles({
    name: 'other.json',
    mimeType: 'application/json',
    buffer: Buffer.from(text),
  })
  await expect(page.getByTestId('import-confirmation')).toContainText('it is gone for good')
  await page.getByTestId('import-cancel').click()
  await expect(page.getByTestId('import-confirmation')).toHaveCount(0)
  await page.reload()
  await expect(page.getByTestId('identity-id')).toHaveText(id)
  // The feed panel loads its rows from IndexedDB after the identity shows: wait for them.
  await expect(page.getByTestId('feed-text')).toHaveText(['mine'])
  expect((await feedRows(page)).map((r) => r.text)).toEqual(['mine'])
})

test('sections are hash routes that keep the query string (invite links)', async ({ page }, testInfo) => {
  const search = '?join=%25abc&network=%25def'
  await openApp(page, `/${search}`)
  await expect(page).toHaveURL(new RegExp(`/\\${search}#/dashboard$`))
  for (const [section, visible] of [
    ['wallet', 'wallet-section'],
    ['network', 'network-section'],
    ['identity', 'identity-panel'],
    ['dashboard', 'feed-panel'],
  ]) {
    await page.getByTestId(`nav-${section}`).click()
    await expect(page).toHaveURL(new RegExp(`/\\${search}#/${section}$`))
    await expect(page.getByTestId(visible!)).toBeVisible()
    await expect(page.getByTestId(`nav-${section}`)).toHaveAttribute('aria-current', 'page')
    expect(await page.evaluate(() => location.search)).toBe(search)
  }
  await page.goBack()
  await expect(page.getByTestId('identity-panel')).toBeVisible()

  // A link straight to a section opens it.
  await page.goto(`/${search}#/network`)
  await expect(page.getByTestId('network-section')).toBeVisible()
  await expect(page.getByTestId('feed-panel')).toBeHidden()
  await expect(page.getByTestId('relay-state')).toHaveAttribute('data-state', 'connected', {
    timeout: 30_000,
  })
  await expect(page.getByTestId('connection-state')).toHaveText('connected')
  await shot(page, testInfo, 'network')

  await page.getByTestId('nav-dashboard').click()
  await appendMessage(page, 'from the dashboard')
  await shot(page, testInfo, 'dashboard')
  await page.getByTestId('nav-wallet').click()
  await shot(page, testInfo, 'wallet')
})
