import { registerSW } from 'virtual:pwa-register'
import createDebug from 'debug'

const log = createDebug('blockfin:app:pwa')

/** The service worker's state as the page sees it. */
export interface PwaUpdates {
  /** Called once a new version of the app is downloaded and waiting. */
  onNeedRefresh(listener: () => void): void
  /** Activates the waiting version and reloads the page. */
  applyUpdate(): Promise<void>
}

/**
 * Registers the generated service worker (registerType 'prompt': a new version waits for the page).
 * A later issue applies updates only at a safe point; for now the person decides.
 */
export function registerPwa(): PwaUpdates {
  const listeners = new Set<() => void>()
  let waiting = false
  const update = registerSW({
    onNeedRefresh() {
      waiting = true
      log('a new version is waiting')
      for (const listener of listeners) listener()
    },
    onOfflineReady() {
      log('the app is cached for offline use')
    },
    onRegisterError(error: unknown) {
      log('service worker registration failed: %O', error)
    },
  })
  return {
    onNeedRefresh(listener) {
      listeners.add(listener)
      if (waiting) listener()
    },
    applyUpdate: () => update(true),
  }
}
