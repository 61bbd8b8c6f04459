import { readFile } from 'node:fs/promises'
import { expect, test } from '@playwright/test'
import {
  appendMessage,
  expectIncreasing,
  FEED_ID,
  feedRows,
  keepScreenshot,
  MESSAGE_ID,
  openApp,
} from './helpers'

const VALIDATOR_ROLES = ['transaction-validator', 'precommitter', 'committer', 'sealer']

test('creates an identity on first visit and shows its four validator role identities', async ({ page }) => {
  const id = await openApp(page)
  await expect(page.getByTestId('role-row')).toHaveCount(4)
  await expect(page.getByTestId('role-name')).toHaveText(VALIDATOR_ROLES)
  const roleIds = await Promise.all(
    VALIDATOR_ROLES.map(async (role) => (await page.getByTestId(`role-${role}`).textContent())!.trim()),
  )
  for (const roleId of roleIds) expect(roleId).toMatch(FEED_ID)
  expect(new Set([id, ...roleIds]).size).toBe(5)
  await expect(page.getByTestId('network-name')).toHaveText('local')
  await expect(page.getByTestId('online-badge')).toBeVisible()
  await expect(page.getByTestId('feed-empty')).toBeVisible()
})

test('appends three signed messages and lists them in sequence order', async ({ page }) => {
  await openApp(page)
  for (const text of ['first', 'second — ünïcode ✓', 'third']) await appendMessage(page, text)
  const rows = await feedRows(page)
  // The feed begins with the validator's role certificates; the test messages follow, in order.
  expectIncreasing(rows.map((r) => Number(r.sequence)))
  expect(rows.map((r) => r.text)).toEqual(['first', 'second — ünïcode ✓', 'third'])
  for (const row of rows) expect(row.id).toMatch(MESSAGE_ID)
  expect(new Set(rows.map((r) => r.id)).size).toBe(3)
  await expect(page.getByTestId('feed-timestamp')).toHaveCount(3)
  await keepScreenshot(page, 'main-screen')
})

test('a reload keeps the same identity and the feed', async ({ page }) => {
  const id = await openApp(page)
  await appendMessage(page, 'before reload 1')
  await appendMessage(page, 'before reload 2')
  const before = await feedRows(page)
  await page.reload()
  await expect(page.getByTestId('identity-id')).toHaveText(id)
  await expect(page.getByTestId('feed-row')).toHaveCount(2)
  expect(await feedRows(page)).toEqual(before)
  await appendMessage(page, 'after reload')
  const rows = await feedRows(page)
  expect(rows.map((r) => r.text)).toEqual(['before reload 1', 'before reload 2', 'after reload'])
  expectIncreasing(rows.map((r) => Number(r.sequence)))
})

test('an exported identity imported in a fresh browser gives the same identity', async ({
  page,
  browser,
}) => {
  const id = await openApp(page)
  await page.getByTestId('nav-identity').click()
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('export-identity').click(),
  ])
  expect(download.suggestedFilename()).toMatch(/^blockfin-identity-.*\.json$/)
  const text = await readFile((await download.path())!, 'utf8')
  const json = JSON.parse(text) as Record<string, string>
  // Seed 001, listing 1.
  expect(Object.keys(json)).toEqual(['curve', 'public', 'private', 'id'])
  expect(json.curve).toBe('ed25519')
  expect(json.id).toBe(id)
  expect(`@${json.public}`).toBe(id)

  const fresh = await browser.newContext()
  try {
    const other = await fresh.newPage()
    const otherId = await openApp(other)
    expect(otherId).not.toBe(id)
    await other.getByTestId('nav-identity').click()
    await other.getByTestId('import-file').setInputFiles({
      name: download.suggestedFilename(),
      mimeType: 'application/json',
      buffer: Buffer.from(text),
    })
    // Importing over an existing identity asks first; nothing changes until the person confirms.
    await expect(other.getByTestId('import-confirmation')).toBeVisible()
    await expect(other.getByTestId('identity-id')).toHaveText(otherId)
    await other.getByTestId('import-confirm').click()
    await expect(other.getByTestId('identity-id')).toHaveText(id)
    await expect(other.getByTestId('import-error')).toHaveCount(0)
    await other.reload()
    await expect(other.getByTestId('identity-id')).toHaveText(id)
  } finally {
    await fresh.close()
  }
})

test('a bad identity file shows a clear error and changes nothing', async ({ page }) => {
  const id = await openApp(page)
  await appendMessage(page, 'kept')
  await page.getByTestId('nav-identity').click()
  const bad = [
    { name: 'not-json.json', content: 'this is not json', error: /not a valid identity.*not JSON/ },
    {
      name: 'mismatch.json',
      // The public key and id of seed 001 listing 1 with the private key of listing 2: they disagree.
      content: JSON.stringify({
        curve: 'ed25519',
        public: 's9+ZsrSDXz7WdQ6ED7Ry3+tN8tTzl3J0DEIuTn/tXrU=.ed25519',
        private:
          'uZBuCYVs1NeBUn6WC/kyJu1nAc64JSrQFK7+MA4nwej4bz5pIjsMZb9Jle+QSpfWKXHkvkHQYSdFAm7+whLdeQ==.ed25519',
        id: '@s9+ZsrSDXz7WdQ6ED7Ry3+tN8tTzl3J0DEIuTn/tXrU=.ed25519',
      }),
      error: /inconsistent: the private key does not belong to the public key/,
    },
    {
      name: 'wrong-curve.json',
      content: JSON.stringify({ curve: 'secp256k1', public: 'x', private: 'y', id: 'z' }),
      error: /curve must be "ed25519"/,
    },
  ]
  for (const file of bad) {
    await page.getByTestId('import-file').setInputFiles({
      name: file.name,
      mimeType: 'application/json',
      buffer: Buffer.from(file.content),
    })
    const error = page.getByTestId('import-error')
    await expect(error).toHaveText(file.error)
    await expect(error).toContainText('Nothing was changed.')
    await expect(page.getByTestId('identity-id')).toHaveText(id)
  }
  await keepScreenshot(page, 'bad-identity-file')
  await page.reload()
  await expect(page.getByTestId('identity-id')).toHaveText(id)
  // The feed panel loads its rows from IndexedDB after the identity shows: wait for them.
  await expect(page.getByTestId('feed-text')).toHaveText(['kept'])
  expect((await feedRows(page)).map((r) => r.text)).toEqual(['kept'])
})

test('a second tab of the same browser waits, then takes over the same identity', async ({ context }) => {
  const first = await context.newPage()
  const id = await openApp(first)
  await appendMessage(first, 'from the first tab')
  const second = await context.newPage()
  await second.goto('/')
  await expect(second.getByTestId('other-tab')).toBeVisible()
  await expect(second.getByTestId('identity-id')).toHaveCount(0)
  await keepScreenshot(second, 'second-tab-waiting')
  await first.close()
  await expect(second.getByTestId('identity-id')).toHaveText(id)
  // It shows the first tab's message (loaded from IndexedDB) before anything is appended.
  await expect(second.getByTestId('feed-row')).toHaveCount(1)
  await appendMessage(second, 'from the second tab')
  const rows = await feedRows(second)
  expect(rows.map((r) => r.text)).toEqual(['from the first tab', 'from the second tab'])
  // The second tab continues the same feed: the next sequence after the first tab's message.
  expect(Number(rows[1]!.sequence)).toBe(Number(rows[0]!.sequence) + 1)
})
