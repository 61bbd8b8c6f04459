import '../../src/node/polyfills'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import createDebug from 'debug'
import type { Ed25519Backend } from '../../src/core/crypto/ed25519'
import type { MessageHasher } from '../../src/core/feed/hasher'
import type { FeedId } from '../../src/core/identity/ids'
import type { KeyPair } from '../../src/core/identity/keys'
import { formatInviteLink } from '../../src/core/invite/link'
import type { PaymentsState } from '../../src/core/ledger/payments'
import type { Digest } from '../../src/core/merkle'
import { err, ok, type Result } from '../../src/core/result'
import { createNodeSha256, nativeSignedBytes } from '../../src/crypto/node'
import { type Clock, systemClock } from '../../src/net/replication/rate-limit'
import { followRuntime } from '../../src/runtime/block-index'
import type { ConsensusRuntime, ConsensusRuntimeOptions } from '../../src/runtime/consensus-runtime'
import { consensusGenesisOf, paymentsOf } from '../../src/runtime/genesis'
import type { FeedStorageAdapter } from '../../src/store/adapter'
import { FeedStore } from '../../src/store/feed-store'
import { type AdmissionState, type Admissions, createAdmissions } from './admissions'
import { createBlocksApi } from './blocks-api'
import { type RelayConsensus, startRelayConsensus } from './consensus'
import {
  type DataDirDeps,
  type DataDirError,
  dataDirPaths,
  type JoinSource,
  type NetworkInfo,
  openDataDir,
} from './data-dir'
import { type FeedDirectory, openFeedDirectory } from './feed-directory'
import { type RunningHttpServer, startHttpServer } from './http'
import type { InviteBookError } from './invites'
import { type AdmissionStatus, type AdmitError, createJoinApi, openJoinSetup } from './join-api'
import { createRelayMetrics } from './metrics'
import { loadOrCreatePeerKey } from './peer-key'
import { type RelayNetwork, startRelayNetwork } from './relay-network'
import { ensureMessagenodeRoles, type RoleCertificateFailure } from './role-certificates'

const log = createDebug('blockfin:relay')

export interface RelayOptions {
  readonly dataDir: string
  readonly distDir: string
  readonly host: string
  readonly port: number
  /** libp2p (WebSockets on `port`, TCP on `tcpPort`, replication). Default true. */
  readonly p2p?: boolean
  /** TCP port for Node peers. Default: port + 1 (0 when port is 0). */
  readonly tcpPort?: number
  /** Other relays to keep connected to and replicate with: multiaddrs or HTTP URLs. */
  readonly peerRelays?: readonly string[]
  /** Extra multiaddrs to announce. */
  readonly announce?: readonly string[]
  /** The public origin of this relay (https behind a proxy) for invite links; default http://<Host>. */
  readonly origin?: string
  /**
   * The HTTP URL of a relay whose network to join on first start (when the data directory has no
   * network yet). That relay is also kept connected to, as a peer relay.
   */
  readonly join?: string
  /** A new network only: more genesis Messagenodes (other relays' keys: `ensureRelayIdentity`). */
  readonly extraMessagenodes?: readonly FeedId[]
  /**
   * TEST SEAM, never set by the CLI: rewrites what this relay's Messagenode publishes before it is
   * signed (a lying Messagenode built on the real relay; ConsensusRuntimeOptions.transformPublish).
   */
  readonly messagenodeTransform?: ConsensusRuntimeOptions['transformPublish']
}

export interface RelayDeps extends DataDirDeps {
  readonly ed25519: Ed25519Backend
  readonly openFeedAdapter: (options: { path: string }) => Promise<FeedStorageAdapter>
  readonly fetch?: typeof fetch
  /** Message hashing for the store (node:crypto in the CLI); the store's default otherwise. */
  readonly hasher?: MessageHasher
  /** Timers of the consensus runtimes (the system clock by default). */
  readonly clock?: Clock
}

export type RelayStartError =
  | DataDirError
  | RoleCertificateFailure
  | { code: 'FEED_STORE_UNAVAILABLE'; path: string; reason: string }
  | { code: 'LISTEN_FAILED'; host: string; port: number; reason: string }
  | { code: 'P2P_FAILED'; reason: string }
  | { code: 'JOIN_FAILED'; from: string; reason: string }
  | InviteBookError

export interface Relay {
  readonly network: NetworkInfo
  readonly relayKeys: KeyPair
  /** Where this relay created the network: the admin key (invites) and its own validator. */
  readonly adminKeys: KeyPair | undefined
  readonly validatorKeys: KeyPair | undefined
  readonly dataDir: string
  /** True on the first start of this data directory. */
  readonly createdNetwork: boolean
  readonly port: number
  readonly store: FeedStore
  /** The libp2p side (undefined when started with p2p: false). */
  readonly net: RelayNetwork | undefined
  readonly directory: FeedDirectory
  /** The relay's Messagenode and own validator. */
  readonly consensus: RelayConsensus
  /** Where this relay holds the admin key: admitting validators through invites. */
  readonly admissions: Admissions | undefined
  /** The default invite's link for participants reaching this relay at `origin` (undefined: no admin key). */
  inviteLink(origin: string): string | undefined
  /** Stops libp2p and HTTP, then closes the feed store. */
  close(): Promise<void>
}

/** Opens (or creates) the data directory, the feed store and the role certificates, then serves HTTP. */
export async function startRelay(
  options: RelayOptions,
  deps: RelayDeps,
): Promise<Result<Relay, RelayStartError>> {
  let joinSource: JoinSource | undefined
  if (options.join && !existsSync(dataDirPaths(options.dataDir).network)) {
    try {
      const response = await (deps.fetch ?? fetch)(new URL('/api/network', options.join), {
        signal: AbortSignal.timeout(10_000),
      })
      if (!response.ok) throw new Error(`HTTP ${response.status}`)
      joinSource = { from: options.join, network: await response.json() }
    } catch (e) {
      return err({ code: 'JOIN_FAILED', from: options.join, reason: (e as Error).message })
    }
  }
  const dir = await openDataDir(
    {
      path: options.dataDir,
      ...(joinSource ? { join: joinSource } : {}),
      ...(options.extraMessagenodes ? { extraMessagenodes: options.extraMessagenodes } : {}),
    },
    deps,
  )
  if (!dir.ok) return dir
  const { network, relayKeys, adminKeys, validatorKeys, paths } = dir.value

  let adapter: FeedStorageAdapter
  try {
    adapter = await deps.openFeedAdapter({ path: paths.feeds })
  } catch (e) {
    return err({ code: 'FEED_STORE_UNAVAILABLE', path: paths.feeds, reason: (e as Error).message })
  }
  const store = await FeedStore.open(
    { networkKey: network.key },
    { adapter, ed25519: deps.ed25519, ...(deps.hasher ? { hasher: deps.hasher } : {}) },
  )

  const roles = await ensureMessagenodeRoles(
    { owner: relayKeys, networkId: network.id },
    { store, now: () => deps.now().getTime() },
  )
  if (!roles.ok) {
    await store.close()
    return roles
  }
  if (roles.value.published.length > 0) log('certified roles %o', roles.value.published)

  const consensusGenesis = consensusGenesisOf(
    network.id,
    network.genesis as unknown as Record<string, unknown>,
  )
  // Native hashing for the core (item ids, Merkle roots) and item signatures: same bytes, faster.
  const sha256 = createNodeSha256()
  const app = paymentsOf(network.genesis as unknown as Record<string, unknown>, sha256)
  // openDataDir checked the genesis: a failure here is a bug.
  if (!consensusGenesis.ok) throw new Error(consensusGenesis.error.reason)
  if (!app.ok) throw new Error(app.error.reason)
  let blocks: ReturnType<typeof followRuntime> | undefined
  // Messagenodes whose aggregates disagree with a verifiable quorum, with the evidence (one per owner).
  const flagged: { owner: FeedId; evidence: unknown }[] = []
  const watchFlags = (rt: ConsensusRuntime) =>
    rt.onEvent((e) => {
      if (e.type === 'messagenode-flagged' && !flagged.some((f) => f.owner === e.owner)) {
        flagged.push({ owner: e.owner, evidence: e.evidence })
        log('Messagenode %s flagged: its aggregate disagrees with a verifiable quorum', e.owner)
      }
    })
  // Admissions listen to the relay's validator from before its replay: their state survives restarts.
  const admissionsWiring =
    adminKeys && validatorKeys
      ? createAdmissions(
          { admin: adminKeys, genesis: consensusGenesis.value, networkKey: network.key },
          { ed25519: deps.ed25519 },
        )
      : undefined
  const consensus = await startRelayConsensus(
    {
      genesis: consensusGenesis.value,
      networkKey: network.key,
      relayKeys,
      validatorKeys,
      ...(options.messagenodeTransform ? { messagenodeTransform: options.messagenodeTransform } : {}),
      // The block index follows the validator where there is one (its records carry results).
      attach: {
        validator: (rt) => {
          watchFlags(rt)
          admissionsWiring?.attach(rt)
          blocks ??= followRuntime(rt, { networkId: network.id })
        },
        messagenode: (rt) => {
          watchFlags(rt)
          if (!validatorKeys) blocks ??= followRuntime(rt, { networkId: network.id })
        },
      },
    },
    {
      store,
      ed25519: deps.ed25519,
      app: app.value,
      clock: deps.clock ?? systemClock,
      signedBytesOf: nativeSignedBytes(network.key),
      sha256,
    },
  )

  let net: RelayNetwork | undefined
  const roleIds = roles.value.roles.map((r) => r.id)
  const messagenodes = new Set<string>([...network.genesis.messagenodes, relayKeys.id])
  const directory = openFeedDirectory(
    {
      networkId: network.id,
      isMessagenode: (id) => messagenodes.has(id) || !!net?.peerMessagenodes().includes(id),
    },
    { store },
  )
  blocks?.index.recheck()
  const primary = consensus.validator ?? consensus.messagenode
  const blocksApi =
    blocks && primary
      ? createBlocksApi({
          source: blocks.index,
          activeValidators: () => [
            ...(primary.view.setAt(primary.view.committedHeight + 1)?.validators ?? []),
          ],
        })
      : undefined
  const consensusStatus = () => {
    if (!primary || !blocksApi) return {}
    const { n, f, q } = primary.view.membership.latest().set
    return {
      ...blocksApi.consensusStatus(),
      validators: { n, f, q },
      ...(f === 0 ? { note: 'fewer than 4 validators: f = 0, every active validator must sign' } : {}),
      flagged: flagged.map((f) => ({ owner: f.owner, evidence: f.evidence })),
    }
  }
  // Invites and the admin token live in the data directory; only a relay holding the admin key admits.
  const joinSetup = admissionsWiring ? await openJoinSetup({ dataDir: paths.root }, deps) : undefined
  if (joinSetup && !joinSetup.ok) {
    await consensus.stop()
    await store.close()
    return err(joinSetup.error)
  }
  const admissions = admissionsWiring?.admissions
  const joinApi =
    joinSetup?.ok && admissions
      ? createJoinApi(
          {
            network: network.id,
            adminToken: joinSetup.value.adminToken,
            ...(options.origin ? { origin: options.origin } : {}),
          },
          {
            invites: joinSetup.value.invites,
            ed25519: deps.ed25519,
            now: deps.now,
            admit: (owner) => admitThrough(admissions, owner),
            admission: async (owner) => admissionStatusOf(admissions.admission(owner)),
          },
        )
      : undefined
  const metrics = createRelayMetrics({}, { source: () => net?.metricsSource() })
  let http: RunningHttpServer
  try {
    http = await startHttpServer(
      { distDir: options.distDir, host: options.host, port: options.port },
      {
        network,
        relay: { id: relayKeys.id, roles: roles.value.roles.map((r) => ({ role: r.role, id: r.id })) },
        feeds: store,
        startedAt: deps.now(),
        directory,
        metrics,
        random: () => {
          const b = deps.randomBytes(4)
          return (b[0]! * 2 ** 24 + b[1]! * 2 ** 16 + b[2]! * 2 ** 8 + b[3]!) / 2 ** 32
        },
        ...(joinApi ? { join: joinApi } : {}),
        ...(blocksApi ? { blocks: blocksApi } : {}),
        consensus: consensusStatus,
        ...(consensus.validator
          ? {
              accounts: () => {
                const v = consensus.validator!
                const state = v.view.appState as PaymentsState
                return {
                  height: v.view.membership.executedHeight,
                  accounts: Object.fromEntries(
                    [...state.accounts].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, a]) => [id, { ...a }]),
                  ),
                }
              },
            }
          : {}),
        invite: (origin) =>
          joinSetup?.ok
            ? formatInviteLink({
                relay: options.origin ?? origin,
                invite: joinSetup.value.defaultInvite.id,
                network: network.id,
              })
            : undefined,
        p2p: {
          status: async () => {
            if (!net) throw new Error('libp2p is not running')
            return net.status()
          },
          peers: async () => (net ? net.peers() : { peers: [] }),
        },
      },
    )
  } catch (e) {
    directory.close()
    await consensus.stop()
    await store.close()
    return err({
      code: 'LISTEN_FAILED',
      host: options.host,
      port: options.port,
      reason: (e as Error).message,
    })
  }

  if (options.p2p !== false) {
    const peerKey = await loadOrCreatePeerKey({ path: join(paths.root, 'peer-key.json') }, deps)
    let failure: RelayStartError | undefined
    if (!peerKey.ok) failure = peerKey.error
    else {
      try {
        net = await startRelayNetwork(
          {
            networkId: network.id,
            host: options.host,
            tcpPort: options.tcpPort ?? (options.port === 0 ? 0 : http.port + 1),
            peerRelays: [
              ...(options.peerRelays ?? []),
              ...(options.join && !options.peerRelays?.includes(options.join) ? [options.join] : []),
            ],
            ...(options.announce ? { announce: options.announce } : {}),
          },
          {
            privateKey: peerKey.value.key,
            httpServer: http.server,
            store,
            relayKeys,
            roleIds,
            metrics,
            ...(deps.fetch ? { fetch: deps.fetch } : {}),
            now: () => deps.now().getTime(),
          },
        )
      } catch (e) {
        failure = { code: 'P2P_FAILED', reason: (e as Error).message }
      }
    }
    if (failure) {
      await http.close().catch(() => undefined)
      directory.close()
      await consensus.stop()
      await store.close()
      return err(failure)
    }
  }

  let closing: Promise<void> | undefined
  return ok({
    network,
    relayKeys,
    adminKeys,
    validatorKeys,
    dataDir: paths.root,
    createdNetwork: dir.value.created,
    port: http.port,
    store,
    net,
    directory,
    consensus,
    admissions,
    inviteLink: (origin) =>
      joinSetup?.ok
        ? formatInviteLink({ relay: origin, invite: joinSetup.value.defaultInvite.id, network: network.id })
        : undefined,
    close: () => {
      closing ??= (async () => {
        try {
          await net?.stop()
        } catch (e) {
          log('stopping libp2p failed: %O', e)
        }
        try {
          await http.close()
        } finally {
          directory.close()
          await consensus.stop()
          await store.close()
        }
      })()
      return closing
    },
  })
}

/** The join API's `admit`: queue the owner; an owner already a validator (genesis) is ALREADY_MEMBER. */
async function admitThrough(
  admissions: Admissions,
  owner: FeedId,
): Promise<Result<{ item: Digest }, AdmitError>> {
  const admitted = await admissions.admit(owner)
  if (!admitted.ok) return err({ code: 'ADMIT_UNAVAILABLE', reason: admitted.error.reason })
  const state = admitted.value
  if (state.status === 'failed') return err({ code: 'ADMIT_REFUSED', reason: state.reason })
  if (!state.item) return err({ code: 'ALREADY_MEMBER', owner })
  return ok({ item: state.item })
}

function admissionStatusOf(state: AdmissionState | undefined): AdmissionStatus | undefined {
  if (!state) return undefined
  if (state.status === 'failed') return { status: 'failed', item: state.item, reason: state.reason }
  if (!state.item) return undefined
  if (state.status === 'pending') return { status: 'pending', item: state.item }
  return { status: 'admitted', item: state.item, height: state.height, activeFrom: state.activeFrom }
}
