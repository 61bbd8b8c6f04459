import { hmac } from '@noble/hashes/hmac.js'
import { sha512 } from '@noble/hashes/sha2.js'
import createDebug from 'debug'
import type { Ed25519Backend } from '../core/crypto/ed25519'
import { utf8Encode } from '../core/encoding/bytes'
import type { MessageHasher } from '../core/feed/hasher'
import { messageIdOfText } from '../core/feed/message'
import type { FeedId, MessageId } from '../core/identity/ids'
import {
  exportKeys,
  type IdentityError,
  importKeysText,
  type KeyPair,
  keyPairFromSeed,
} from '../core/identity/keys'
import { deriveRoleKeys, VALIDATOR_ROLES, type ValidatorRole } from '../core/identity/roles'
import { createJoinRequest, type JoinRequest } from '../core/invite/join-request'
import type { InviteId } from '../core/invite/link'
import { err, ok, type Result } from '../core/result'
import type { Clock } from '../net/replication/rate-limit'
import { ConsensusRuntime, roleKeysOf } from '../runtime/consensus-runtime'
import { consensusGenesisOf, type GenesisError, paymentsOf } from '../runtime/genesis'
import { createWallet, type Wallet } from '../runtime/wallet'
import type { FeedStorageAdapter } from '../store/adapter'
import { type AppendError, FeedStore } from '../store/feed-store'
import type { IdentityStore, IdentityStoreError } from '../store/identity-store'
import type { LoadedNetwork, NetworkError } from './network'

/** How long a tab's write of received messages waits for more (FeedStoreOptions.receivedWriteDelayMs). */
export const TAB_RECEIVED_WRITE_DELAY_MS = 20

const log = createDebug('blockfin:app:session')

/** The part of the identity store a session needs. */
export type SessionIdentityStore = Pick<IdentityStore, 'load' | 'save'>

export interface FeedEntry {
  readonly sequence: number
  readonly timestamp: number
  readonly id: MessageId
  readonly type: string
  /** content.text of a blockfin/test message; empty for other types. */
  readonly text: string
}

export interface RoleIdentity {
  readonly role: ValidatorRole
  readonly id: FeedId
}

export type SessionError =
  | NetworkError
  | IdentityStoreError
  | { code: 'FEED_STORE_UNAVAILABLE'; reason: string }

export type AppendTestError = { code: 'TEXT_EMPTY' } | AppendError

export type ImportError = IdentityError | IdentityStoreError

export interface ValidatorSessionDeps {
  readonly loadNetwork: () => Promise<Result<LoadedNetwork, NetworkError>>
  readonly identityStore: SessionIdentityStore
  readonly openFeedAdapter: (options: { name: string }) => Promise<FeedStorageAdapter>
  readonly ed25519: Ed25519Backend
  /** Batch message hashing (WebCrypto in the tab); the store's pure-JavaScript default otherwise. */
  readonly hasher?: MessageHasher
  /** Cryptographic randomness (crypto.getRandomValues in the browser). */
  readonly randomBytes: (length: number) => Uint8Array
  readonly now: () => number
}

export interface ValidatorSessionOptions {
  /** Feeds are kept per network: the database is `${feedDbPrefix}${network id}`. */
  readonly feedDbPrefix: string
}

/**
 * One validator tab's state: its network, its identity (created on first visit, kept in the
 * identity store), its role identities and its own feed. No UI here: the Svelte components call it.
 */
export class ValidatorSession {
  private constructor(
    readonly network: LoadedNetwork,
    private keys: KeyPair,
    private readonly store: FeedStore,
    private readonly deps: ValidatorSessionDeps,
  ) {}

  static async open(
    options: ValidatorSessionOptions,
    deps: ValidatorSessionDeps,
  ): Promise<Result<ValidatorSession, SessionError>> {
    const network = await deps.loadNetwork()
    if (!network.ok) return network

    const loaded = await deps.identityStore.load()
    if (!loaded.ok) return loaded
    let keys = loaded.value
    if (!keys) {
      keys = keyPairFromSeed(deps.randomBytes(32))
      const saved = await deps.identityStore.save(keys)
      if (!saved.ok) return saved
      log('created identity %s', keys.id)
    }

    let adapter: FeedStorageAdapter
    try {
      adapter = await deps.openFeedAdapter({ name: `${options.feedDbPrefix}${network.value.network.id}` })
    } catch (e) {
      return err({ code: 'FEED_STORE_UNAVAILABLE', reason: (e as Error).message })
    }
    const store = await FeedStore.open(
      // The tab's core takes received messages once checked, and the relay forwards them: a write
      // of received messages can wait for more (docs/protocol.md section 5).
      { networkKey: network.value.keyBytes, receivedWriteDelayMs: TAB_RECEIVED_WRITE_DELAY_MS },
      { adapter, ed25519: deps.ed25519, hasher: deps.hasher },
    )
    return ok(new ValidatorSession(network.value, keys, store, deps))
  }

  get identity(): FeedId {
    return this.keys.id
  }

  /** The four validator role identities, derived from the identity's seed. */
  roles(): RoleIdentity[] {
    return VALIDATOR_ROLES.map((role) => ({ role, id: deriveRoleKeys(this.keys, role).id }))
  }

  /** This identity's feed, oldest first. */
  async feed(): Promise<FeedEntry[]> {
    const texts = await this.store.range(this.keys.id, 1)
    return texts.map(toEntry)
  }

  /** Signs `{type: 'blockfin/test', text}` as the next message of this identity's feed and stores it. */
  async appendTest(text: string): Promise<Result<FeedEntry, AppendTestError>> {
    if (text.trim() === '') return err({ code: 'TEXT_EMPTY' })
    const outcome = await this.store.publish(this.keys, { type: 'blockfin/test', text }, this.deps.now())
    if (!outcome.ok) return outcome
    return ok(toEntry(outcome.value.text))
  }

  /** The identity as seed 001 listing 1 JSON, for a file the person keeps. Contains the secret key. */
  exportIdentity(): { fileName: string; text: string } {
    const json = exportKeys(this.keys)
    const short = this.keys.id.slice(1, 9).replace(/[^A-Za-z0-9]/g, '_')
    return { fileName: `blockfin-identity-${short}.json`, text: `${JSON.stringify(json, null, 2)}\n` }
  }

  /**
   * Replaces this device's identity with the one in `text` (listing 1 JSON). A file that does not
   * hold a valid identity changes nothing and returns the typed reason.
   */
  async importIdentity(text: string): Promise<Result<FeedId, ImportError>> {
    const imported = importKeysText(text)
    if (!imported.ok) return imported
    const saved = await this.deps.identityStore.save(imported.value)
    if (!saved.ok) return saved
    this.keys = imported.value
    log('imported identity %s', this.keys.id)
    return ok(this.keys.id)
  }

  /**
   * What the network layer needs: the feed store, this identity, and a seed for the tab's libp2p
   * key. The seed is derived from the identity's (HMAC-SHA-512 with its own label, like role keys),
   * so the tab keeps one peer id without storing another secret, and it is never the identity key.
   */
  networkParts(): { store: FeedStore; identity: FeedId; peerKeySeed: Uint8Array } {
    const peerKeySeed = hmac(sha512, this.keys.seed, utf8Encode('blockfin/libp2p-peer-key/v1')).subarray(
      0,
      32,
    )
    return { store: this.store, identity: this.keys.id, peerKeySeed }
  }

  /**
   * Starts this tab's validator: the consensus runtime over the tab's feed store (it replays the
   * store first) and the owner's wallet. Votes count once the network has admitted this identity.
   * The wallet attaches before the replay, so it lists the transfers sent before a reload too.
   */
  async startConsensus(deps: {
    readonly clock: Clock
    /** Run before the runtime replays the store (listeners that must see the replay). */
    readonly attach?: (runtime: ConsensusRuntime) => void
  }): Promise<Result<ValidatorParts, GenesisError>> {
    const { network, keyBytes } = this.network
    const genesis = consensusGenesisOf(network.id, network.genesis)
    if (!genesis.ok) return genesis
    const app = paymentsOf(network.genesis)
    if (!app.ok) return app
    const keys = this.keys
    let wallet: Wallet | undefined
    const runtime = await ConsensusRuntime.start(
      {
        kind: 'validator',
        genesis: genesis.value,
        networkKey: keyBytes,
        keys: { owner: keys, roles: roleKeysOf(keys, VALIDATOR_ROLES) },
      },
      { store: this.store, ed25519: this.deps.ed25519, app: app.value, clock: deps.clock },
      (rt) => {
        wallet = createWallet(
          { keys, networkKey: keyBytes },
          { runtime: rt, ed25519: this.deps.ed25519, now: this.deps.now },
        )
        deps.attach?.(rt)
      },
    )
    if (!wallet) throw new Error('the runtime started without running its attach hook')
    return ok({ runtime, wallet })
  }

  /** A join request for `invite`, signed by this identity (POST /api/join on the invite's relay). */
  joinRequest(invite: InviteId): Promise<JoinRequest> {
    return createJoinRequest(
      { owner: this.keys, network: this.network.network.id, invite, timestamp: this.deps.now() },
      this.deps.ed25519,
    )
  }

  close(): Promise<void> {
    return this.store.close()
  }
}

export interface ValidatorParts {
  readonly runtime: ConsensusRuntime
  readonly wallet: Wallet
}

function toEntry(text: string): FeedEntry {
  const value = JSON.parse(text) as { sequence: number; timestamp: number; content: Record<string, unknown> }
  const content = value.content
  return {
    sequence: value.sequence,
    timestamp: value.timestamp,
    id: messageIdOfText(text),
    type: String(content.type),
    text: typeof content.text === 'string' ? content.text : '',
  }
}

/** A sentence a person can read for each typed error the UI may show. */
export function describeError(error: SessionError | AppendTestError | ImportError): string {
  switch (error.code) {
    case 'NETWORK_UNAVAILABLE':
      return `Cannot reach the relay, and this browser has not joined a network yet (${error.reason}). Connect and reload.`
    case 'NETWORK_INVALID':
      return `The relay sent a network description that does not check out: ${error.reason}.`
    case 'IDENTITY_STORE_FAILED':
      return `The browser's storage refused to ${error.operation} the identity: ${error.reason}.`
    case 'IDENTITY_RECORD_CORRUPT':
      return `The identity stored in this browser is damaged (${error.cause.reason}). Import a backup.`
    case 'FEED_STORE_UNAVAILABLE':
      return `The browser's storage could not be opened: ${error.reason}.`
    case 'TEXT_EMPTY':
      return 'Write some text first.'
    case 'IDENTITY_MALFORMED':
      return `This file is not a valid identity: ${error.reason}${error.field ? ` (field "${error.field}")` : ''}.`
    case 'IDENTITY_KEY_MISMATCH':
      return `This identity file is inconsistent: ${error.reason}.`
    case 'STORE_WRITE_FAILED':
      return `The message could not be saved: ${error.reason}.`
    case 'STORE_CLOSED':
      return 'The feed store is closed; reload the page.'
    default:
      return `The message was refused (${error.code}).`
  }
}
