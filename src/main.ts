/**
 * The browser app's composition root: builds the session's parts (IndexedDB stores, the Ed25519
 * backend, the relay's network) and mounts the page. Everything below takes its parts as arguments.
 */

import createDebug from 'debug'
import { mount } from 'svelte'
import App from './app/App.svelte'
import { installAutomation } from './app/automation'
import { createLiveSlot, startLiveValidator } from './app/live-validator'
import { loadNetwork, openNetworkCache } from './app/network'
import { type NetworkSession, startNetworkSession } from './app/network-session'
import { registerPwa } from './app/pwa-updates'
import { safePoint, setSafePoint } from './app/safe-point'
import { acquireTabLock } from './app/tab-lock'
import { ValidatorSession } from './app/validator-session'
import type { FeedId } from './core/identity/ids'
import { selectBrowserHasher, selectBrowserVerifier } from './crypto/browser'
import { systemClock } from './net/replication/rate-limit'
import { openIdentityStore } from './store/identity-store'
import { openIndexedDbAdapter } from './store/indexeddb-adapter'

const log = createDebug('blockfin:app')

// A new version reloads the page only at a safe point (the validator runtime installs it: setSafePoint).
const pwa = registerPwa({ safePoint })

async function openSession(events: { onWaitingForOtherTab: () => void }) {
  await acquireTabLock(
    { name: 'blockfin-validator' },
    { locks: navigator.locks, onWaiting: events.onWaitingForOtherTab },
  )
  const [identityStore, cache, ed25519] = await Promise.all([
    openIdentityStore({ name: 'blockfin-identity' }),
    openNetworkCache({ name: 'blockfin-network' }),
    selectBrowserVerifier(),
  ])
  return ValidatorSession.open(
    { feedDbPrefix: 'blockfin-feeds:' },
    {
      loadNetwork: () => loadNetwork({ url: '/api/network' }, { fetch: (...a) => fetch(...a), cache }),
      identityStore,
      openFeedAdapter: openIndexedDbAdapter,
      ed25519,
      hasher: selectBrowserHasher(),
      randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
      now: () => Date.now(),
    },
  )
}

/**
 * The relay this tab replicates with: `?relay=<multiaddr or http url>` in the page URL, else the
 * relay that served the page (its WebSockets share the page's origin).
 */
function relayOfPage(): string {
  return new URLSearchParams(location.search).get('relay') || location.origin
}

/**
 * The invite in the page URL (`?join=<id>&network=<id>`) as a link to the page's own relay. A page
 * with `join` but a broken or missing `network` still yields a link, so the join panel says why it
 * does not work instead of showing nothing.
 */
function inviteOfPage(): string | undefined {
  const params = new URLSearchParams(location.search)
  const join = params.get('join')
  if (join === null) return undefined
  const network = params.get('network')
  const link = new URLSearchParams({ join, ...(network !== null ? { network } : {}) })
  return `${location.origin}/?${link}`
}

const slot = createLiveSlot()
let network: NetworkSession | undefined
let firstLive: () => void = () => undefined
const ready = new Promise<void>((resolve) => {
  firstLive = resolve
})
installAutomation({ ready, current: () => slot.current(), network: () => network })

/** (Re)starts the tab's validator for the session's identity; joins when the page carries an invite. */
async function startValidator(session: ValidatorSession): Promise<void> {
  const previous = slot.current()
  slot.set(undefined)
  await previous?.stop()
  const started = await startLiveValidator({ session, clock: systemClock, fetch: (...a) => fetch(...a) })
  if (!started.ok) throw new Error(`the network's genesis cannot run consensus: ${started.error.reason}`)
  const current = started.value
  slot.set(current)
  // A reload for a new version waits until this validator is between votes.
  setSafePoint(() => current.runtime.idle())
  firstLive()
  const invite = inviteOfPage()
  if (invite) {
    const joined = await current.join(invite)
    if (!joined.ok) log('joining failed: %o', joined.error)
  }
}

async function startNetwork(session: ValidatorSession) {
  const validator = startValidator(session)
  network = await startTabNetwork(session)
  await validator
  return network
}

async function startTabNetwork(session: ValidatorSession) {
  const { store, identity, peerKeySeed } = session.networkParts()
  const genesis = session.network.network.genesis as { messagenodes?: FeedId[] }
  return startNetworkSession(
    {
      relay: relayOfPage(),
      networkId: session.network.network.id,
      messagenodes: genesis.messagenodes ?? [],
    },
    {
      store,
      identity,
      peerKeySeed,
      createPrivateKey: async (seed) => {
        const { generateKeyPairFromSeed } = await import('@libp2p/crypto/keys')
        return generateKeyPairFromSeed('Ed25519', seed)
      },
      createNode: async (privateKey) => {
        const { createBrowserNode } = await import('./net/libp2p/browser-node')
        return createBrowserNode({}, { privateKey })
      },
      fetch: (...a) => fetch(...a),
      connectivity: {
        online: () => navigator.onLine,
        subscribe(listener) {
          const on = () => listener(true)
          const off = () => listener(false)
          window.addEventListener('online', on)
          window.addEventListener('offline', off)
          return () => {
            window.removeEventListener('online', on)
            window.removeEventListener('offline', off)
          }
        },
      },
    },
  )
}

mount(App, {
  target: document.getElementById('app')!,
  props: { openSession, pwa, startNetwork, validator: slot },
})
