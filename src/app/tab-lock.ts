import createDebug from 'debug'

const log = createDebug('blockfin:app:tab-lock')

/**
 * One validator per browser profile: two tabs appending to the same feed from two in-memory heads
 * would fork it, and two first visits would each make an identity. The tab that holds this Web Lock
 * runs the validator until it closes; another tab waits (and says so) and takes over after it.
 */
export async function acquireTabLock(
  options: { readonly name: string },
  deps: { readonly locks: LockManager | undefined; readonly onWaiting: () => void },
): Promise<void> {
  const { locks } = deps
  if (!locks) {
    log('no Web Locks API: running without the one-tab guard')
    return
  }
  // Held until the page goes away: the browser releases it when the document is unloaded.
  const holdForever = () => new Promise<never>(() => {})
  const immediate = await new Promise<boolean>((resolve) => {
    void locks.request(options.name, { ifAvailable: true }, (lock) => {
      resolve(lock !== null)
      return lock ? holdForever() : undefined
    })
  })
  if (immediate) return
  log('another tab holds %s; waiting', options.name)
  deps.onWaiting()
  await new Promise<void>((resolve) => {
    void locks.request(options.name, () => {
      resolve()
      return holdForever()
    })
  })
  log('took over %s', options.name)
}
