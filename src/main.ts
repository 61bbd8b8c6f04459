/**
 * The browser app's composition root: builds the session's parts (IndexedDB stores, the Ed25519
 * backend, the relay's network) and mounts the page. Everything below takes its parts as arguments.
 */
import { mount } from 'svelte'
import App from './app/App.svelte'
import { loadNetwork, openNetworkCache } from './app/network'
import { registerPwa } from './app/pwa-updates'
import { acquireTabLock } from './app/tab-lock'
import { ValidatorSession } from './app/validator-session'
import { selectBrowserBackend } from './crypto/browser'
import { openIdentityStore } from './store/identity-store'
import { openIndexedDbAdapter } from './store/indexeddb-adapter'

const pwa = registerPwa()

async function openSession(events: { onWaitingForOtherTab: () => void }) {
  await acquireTabLock(
    { name: 'blockfin-validator' },
    { locks: navigator.locks, onWaiting: events.onWaitingForOtherTab },
  )
  const [identityStore, cache, ed25519] = await Promise.all([
    openIdentityStore({ name: 'blockfin-identity' }),
    openNetworkCache({ name: 'blockfin-network' }),
    selectBrowserBackend(),
  ])
  return ValidatorSession.open(
    { feedDbPrefix: 'blockfin-feeds:' },
    {
      loadNetwork: () => loadNetwork({ url: '/api/network' }, { fetch: (...a) => fetch(...a), cache }),
      identityStore,
      openFeedAdapter: openIndexedDbAdapter,
      ed25519,
      randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
      now: () => Date.now(),
    },
  )
}

mount(App, { target: document.getElementById('app')!, props: { openSession, pwa } })
