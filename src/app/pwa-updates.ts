import { registerSW } from 'virtual:pwa-register'
import createDebug from 'debug'

const log = createDebug('blockfin:app:pwa')

/**
 * - `none`: no new version.
 * - `ready`: a new version is downloaded and waits; the person is asked.
 * - `waiting-for-safe-point`: the person agreed; the reload waits until the validator is between votes.
 * - `applying`: the new version is being activated; the page reloads when it takes control.
 * - `failed`: the safe point or the activation failed; the person may try again.
 */
export type UpdateState = 'none' | 'ready' | 'waiting-for-safe-point' | 'applying' | 'failed'

/** The service worker's updates as the page sees them. */
export interface PwaUpdates {
  state(): UpdateState
  /** Calls `listener` with every state change (and the current state at once); returns the unsubscribe. */
  subscribe(listener: (state: UpdateState) => void): () => void
  /**
   * Applies the waiting version: waits for the safe point, then activates it and reloads the page.
   * Never reloads before the safe point resolves; a second call while one runs joins it.
   */
  applyUpdate(): Promise<void>
}

/** The parts of `registerSW` (vite-plugin-pwa's registration, prompt mode) this module uses. */
export type RegisterServiceWorker = (callbacks: {
  onNeedRefresh: () => void
  /** The new version took control of this page: only now may it reload. */
  onNeedReload: () => void
  onOfflineReady: () => void
  onRegisterError: (error: unknown) => void
}) => /** Activates the waiting version; resolves once it controls this page. */ () => Promise<void>

export interface PwaUpdateDeps {
  readonly register: RegisterServiceWorker
  /** Resolves at a moment when reloading is harmless (the validator runtime: between votes). */
  readonly safePoint: () => Promise<void>
  readonly reload: () => void
}

export function createPwaUpdates(deps: PwaUpdateDeps): PwaUpdates {
  const listeners = new Set<(state: UpdateState) => void>()
  let current: UpdateState = 'none'
  let applying: Promise<void> | undefined
  let externalReload = false
  const set = (next: UpdateState) => {
    current = next
    for (const listener of listeners) listener(next)
  }
  const activate = deps.register({
    onNeedRefresh() {
      log('a new version is waiting')
      if (current === 'none') set('ready')
    },
    onNeedReload() {
      // Ours: applyUpdate reloads once the activation resolves. Already waiting: once is enough.
      if (current === 'applying' || externalReload) return
      externalReload = true
      // Another tab of this browser activated it: this page reloads too, but also only at a safe point.
      log('the new version took control from elsewhere: reloading at the next safe point')
      set('waiting-for-safe-point')
      deps.safePoint().then(deps.reload, (e: unknown) => {
        log('safe point failed: %O', e)
        set('failed')
      })
    },
    onOfflineReady() {
      log('the app is cached for offline use')
    },
    onRegisterError(error) {
      log('service worker registration failed: %O', error)
    },
  })
  return {
    state: () => current,
    subscribe(listener) {
      listeners.add(listener)
      listener(current)
      return () => listeners.delete(listener)
    },
    applyUpdate() {
      if (current !== 'ready' && current !== 'failed') return applying ?? Promise.resolve()
      set('waiting-for-safe-point')
      applying = (async () => {
        try {
          await deps.safePoint()
          log('safe point reached: activating the new version')
          set('applying')
          await activate()
          log('the new version is in control: reloading')
          deps.reload()
        } catch (e) {
          log('update failed: %O', e)
          set('failed')
        } finally {
          applying = undefined
        }
      })()
      return applying
    },
  }
}

/**
 * Registers the generated service worker (registerType 'prompt': a new version waits until the
 * page applies it). `safePoint` defaults to "now"; the validator runtime passes "between votes".
 */
export function registerPwa(options: { safePoint?: () => Promise<void> } = {}): PwaUpdates {
  return createPwaUpdates({
    register: (callbacks) => {
      let updateWaiting = false
      const update = registerSW({
        ...callbacks,
        onNeedRefresh() {
          updateWaiting = true
          callbacks.onNeedRefresh()
        },
      })
      // A waiting version that takes control (from this page or another tab of this browser) means
      // this page runs old code under a new worker: it must reload, at a safe point.
      navigator.serviceWorker?.addEventListener('controllerchange', () => {
        if (updateWaiting) callbacks.onNeedReload()
      })
      return async () => {
        // Watched here rather than through the plugin's 'controlling' event, which it reports only
        // to pages that had a controller when they loaded (not to the first visit's page).
        const controlled = new Promise<void>((resolve) =>
          navigator.serviceWorker.addEventListener('controllerchange', () => resolve(), { once: true }),
        )
        await update(true)
        await controlled
      }
    },
    safePoint: options.safePoint ?? (() => Promise.resolve()),
    reload: () => window.location.reload(),
  })
}
