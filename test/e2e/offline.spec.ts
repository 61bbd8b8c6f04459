import { expect, test } from '@playwright/test'
import { appendMessage, expectIncreasing, feedRows, keepScreenshot, openApp } from './helpers'

test('after the first visit the app reloads offline from the service worker and still signs', async ({
  page,
  context,
}) => {
  const id = await openApp(page)
  // The generated service worker precaches the app and takes control of this first page.
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready
    if (!navigator.serviceWorker.controller)
      await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve))
  })
  await appendMessage(page, 'online message')

  await context.setOffline(true)
  try {
    await page.reload()
    await expect(page.getByTestId('identity-id')).toHaveText(id)
    await expect(page.getByTestId('offline-badge')).toBeVisible()
    // The relay is unreachable: the network comes from the copy cached in IndexedDB.
    await expect(page.getByTestId('network-source')).toHaveText('(cached copy)')
    await expect(page.getByTestId('feed-row')).toHaveCount(1)
    await appendMessage(page, 'offline message')
    const rows = await feedRows(page)
    expect(rows.map((r) => r.text)).toEqual(['online message', 'offline message'])
    expectIncreasing(rows.map((r) => Number(r.sequence)))
    await keepScreenshot(page, 'offline')
  } finally {
    await context.setOffline(false)
  }
  await page.reload()
  await expect(page.getByTestId('online-badge')).toBeVisible()
  await expect(page.getByTestId('feed-row')).toHaveCount(2)
})
