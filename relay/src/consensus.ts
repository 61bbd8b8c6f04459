/**
 * Consensus in the relay process: its Messagenode (when the genesis names this relay) and, where
 * the relay created the network, its own validator (one vote among n, so the network seals from
 * its first second; docs/relay-api.md). Both are ConsensusRuntimes over the relay's one FeedStore:
 * replication fills it, and what they publish is replicated like anyone's feed.
 */
import createDebug from 'debug'
import type { ConsensusGenesis } from '../../src/core/consensus'
import type { Ed25519Backend } from '../../src/core/crypto/ed25519'
import type { Sha256 } from '../../src/core/crypto/hash'
import type { KeyPair } from '../../src/core/identity/keys'
import { MESSAGENODE_ROLES, VALIDATOR_ROLES } from '../../src/core/identity/roles'
import type { AppModule } from '../../src/core/ledger/module'
import type { SignedBytesOf } from '../../src/core/ledger/signed-item'
import type { Clock } from '../../src/net/replication/rate-limit'
import {
  ConsensusRuntime,
  type ConsensusRuntimeOptions,
  roleKeysOf,
} from '../../src/runtime/consensus-runtime'
import type { FeedStore } from '../../src/store/feed-store'

const log = createDebug('blockfin:relay:consensus')

export interface RelayConsensusOptions {
  readonly genesis: ConsensusGenesis
  readonly networkKey: Uint8Array
  readonly relayKeys: KeyPair
  readonly validatorKeys: KeyPair | undefined
  /** TEST SEAM (ConsensusRuntimeOptions.transformPublish) for this relay's Messagenode only. */
  readonly messagenodeTransform?: ConsensusRuntimeOptions['transformPublish']
  /** Run before each runtime replays the store, to attach listeners that must see the replay. */
  readonly attach?: {
    readonly messagenode?: (runtime: ConsensusRuntime) => void
    readonly validator?: (runtime: ConsensusRuntime) => void
  }
}

export interface RelayConsensusDeps {
  readonly store: FeedStore
  readonly ed25519: Ed25519Backend
  readonly app: AppModule<unknown, unknown>
  readonly clock: Clock
  readonly signedBytesOf?: SignedBytesOf
  readonly sha256?: Sha256
}

export interface RelayConsensus {
  /** Undefined where the genesis does not name this relay as a Messagenode. */
  readonly messagenode: ConsensusRuntime | undefined
  /** Undefined where this relay did not create the network. */
  readonly validator: ConsensusRuntime | undefined
  stop(): Promise<void>
}

export async function startRelayConsensus(
  options: RelayConsensusOptions,
  deps: RelayConsensusDeps,
): Promise<RelayConsensus> {
  const { genesis, networkKey, relayKeys, validatorKeys } = options
  const runtimeDeps = {
    store: deps.store,
    ed25519: deps.ed25519,
    app: deps.app,
    clock: deps.clock,
    ...(deps.signedBytesOf ? { signedBytesOf: deps.signedBytesOf } : {}),
    ...(deps.sha256 ? { sha256: deps.sha256 } : {}),
  }
  const messagenode = genesis.messagenodes.includes(relayKeys.id)
    ? await ConsensusRuntime.start(
        {
          kind: 'messagenode',
          genesis,
          networkKey,
          keys: { owner: relayKeys, roles: roleKeysOf(relayKeys, MESSAGENODE_ROLES) },
          ...(options.messagenodeTransform ? { transformPublish: options.messagenodeTransform } : {}),
        },
        runtimeDeps,
        options.attach?.messagenode,
      )
    : undefined
  const validator = validatorKeys
    ? await ConsensusRuntime.start(
        {
          kind: 'validator',
          genesis,
          networkKey,
          keys: { owner: validatorKeys, roles: roleKeysOf(validatorKeys, VALIDATOR_ROLES) },
        },
        runtimeDeps,
        options.attach?.validator,
      )
    : undefined
  log('started (messagenode %s, validator %s)', messagenode?.owner ?? 'none', validator?.owner ?? 'none')
  return {
    messagenode,
    validator,
    async stop() {
      await validator?.stop()
      await messagenode?.stop()
    },
  }
}
