/**
 * A headless validator: the tab's core (FeedStore, follow graph, replication engine) in a Node
 * process, over the LevelDB adapter, connected to a relay by TCP (or WebSockets). For tests,
 * benchmarks and people who want a validator without a browser.
 *
 * Its data directory (mode 0700) holds `identity.json` (seed 001 listing 1, mode 0600, created on
 * first start), `peer-key.json` (its libp2p key, 0600), `network.json` (the network last fetched
 * from the relay, so it restarts without the relay) and `feeds/` (LevelDB).
 *
 * Like a tab it follows the network's Messagenodes two hops deep: the Messagenodes' own feeds, and
 * every feed they follow (every validator and every other Messagenode).
 */
import '../../src/node/polyfills'
import { chmod, mkdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import createDebug from 'debug'
import { checkNetwork, type NetworkDescriptor } from '../../src/app/network'
import type { Ed25519Backend } from '../../src/core/crypto/ed25519'
import { decodeBase64 } from '../../src/core/encoding/base64'
import type { MessageHasher } from '../../src/core/feed/hasher'
import type { MessageContent } from '../../src/core/feed/message'
import type { FeedId } from '../../src/core/identity/ids'
import { exportKeys, importKeysText, type KeyPair, keyPairFromSeed } from '../../src/core/identity/keys'
import { VALIDATOR_ROLES } from '../../src/core/identity/roles'
import { createJoinRequest } from '../../src/core/invite/join-request'
import { err, ok, type Result } from '../../src/core/result'
import { createNodeSha256, nativeSignedBytes } from '../../src/crypto/node'
import { type FollowGraph, openFollowGraph } from '../../src/net/follow-graph'
import {
  type KeepConnected,
  type KeepConnectedState,
  keepConnected,
} from '../../src/net/libp2p/keep-connected'
import {
  fetchRelayP2p,
  httpUrlOfMultiaddr,
  parseRelayTarget,
  resolveRelayTarget,
} from '../../src/net/libp2p/relay-address'
import { type ReplicationHost, startReplicationHost } from '../../src/net/libp2p/replication-host'
import { createReplicationEngine, type ReplicationEngine } from '../../src/net/replication/engine'
import { systemClock } from '../../src/net/replication/rate-limit'
import { ConsensusRuntime, roleKeysOf } from '../../src/runtime/consensus-runtime'
import { consensusGenesisOf, type GenesisError, paymentsOf } from '../../src/runtime/genesis'
import { admissionProgress, type JoinError, readInviteLink, requestJoin } from '../../src/runtime/join-client'
import { createWallet, type Wallet } from '../../src/runtime/wallet'
import type { FeedStorageAdapter } from '../../src/store/adapter'
import { type AppendOutcome, FeedStore } from '../../src/store/feed-store'
import { createNodePeer, type NodePeer } from './node-peer'
import { checkPrivateMode, loadOrCreatePeerKey, type PeerKeyError, writePrivateFile } from './peer-key'

const log = createDebug('blockfin:relay:validator')

export interface HeadlessValidatorOptions {
  readonly dataDir: string
  /** The relay: a multiaddr (TCP or WebSockets) or the HTTP URL it serves the app on. */
  readonly relay: string
  /** How far following reaches from the Messagenodes' feeds (default 2: every validator). */
  readonly hops?: number
  readonly requestTimeoutMs?: number
  /** Pacing of its transaction messages (ConsensusRuntimeOptions.txIntervalMs; default 100 ms). */
  readonly txIntervalMs?: number
}

export interface HeadlessValidatorDeps {
  readonly ed25519: Ed25519Backend
  readonly randomBytes: (length: number) => Uint8Array
  readonly now: () => number
  readonly fetch: typeof fetch
  readonly openFeedAdapter: (options: { path: string }) => Promise<FeedStorageAdapter>
  readonly hasher?: MessageHasher
}

export type ValidatorStartError =
  | PeerKeyError
  | { code: 'RELAY_TARGET_INVALID'; target: string; reason: string }
  | { code: 'NETWORK_UNAVAILABLE'; reason: string }
  | { code: 'NETWORK_INVALID'; reason: string }
  | { code: 'NETWORK_MISMATCH'; cached: string; relay: string }
  | { code: 'FEED_STORE_UNAVAILABLE'; path: string; reason: string }
  | { code: 'P2P_FAILED'; reason: string }
  | GenesisError

export interface HeadlessValidator {
  readonly id: FeedId
  readonly peerId: string
  readonly network: NetworkDescriptor
  readonly store: FeedStore
  readonly engine: ReplicationEngine
  readonly follows: FollowGraph
  readonly node: NodePeer
  /** The consensus core over this validator's store: votes, executes, takes submissions. */
  readonly runtime: ConsensusRuntime
  /** This validator's owner account: balance and transfers submitted to itself. */
  readonly wallet: Wallet
  /**
   * Joins the validator set with an invite link: a signed join request to the link's relay; resolves
   * with the admission once it is sealed (its votes count from `activeFrom`), or the typed refusal.
   */
  join(
    link: string,
    options?: { readonly timeoutMs?: number },
  ): Promise<
    Result<{ height: number; activeFrom: number }, JoinError | { code: 'JOIN_TIMEOUT'; reason: string }>
  >
  relayState(): KeepConnectedState
  /** Signs `content` as the next message of this validator's feed. */
  publish(content: MessageContent): Promise<AppendOutcome>
  stop(): Promise<void>
}

interface CachedNetwork extends NetworkDescriptor {
  /** The relay's Messagenode, when learned from its /api/status. */
  relayId?: FeedId
}

async function loadOrCreateIdentity(
  path: string,
  deps: Pick<HeadlessValidatorDeps, 'randomBytes'>,
): Promise<Result<KeyPair, PeerKeyError>> {
  try {
    const s = await stat(path)
    const mode = checkPrivateMode(path, s.mode & 0o777)
    if (!mode.ok) return mode
    const keys = importKeysText(await readFile(path, 'utf8'))
    if (!keys.ok) return err({ code: 'KEY_FILE_INVALID', path, reason: keys.error.reason })
    return ok(keys.value)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      return err({ code: 'KEY_FILE_INVALID', path, reason: (e as Error).message })
  }
  const keys = keyPairFromSeed(deps.randomBytes(32))
  const written = await writePrivateFile(path, `${JSON.stringify(exportKeys(keys), null, 2)}\n`)
  if (!written.ok) return written
  log('created identity %s', keys.id)
  return ok(keys)
}

async function loadNetwork(
  httpUrl: string | undefined,
  path: string,
  deps: Pick<HeadlessValidatorDeps, 'fetch'>,
): Promise<Result<CachedNetwork, ValidatorStartError>> {
  let cached: CachedNetwork | undefined
  try {
    const json = JSON.parse(await readFile(path, 'utf8')) as CachedNetwork
    const checked = checkNetwork(json)
    if (checked.ok) cached = { ...checked.value, ...(json.relayId ? { relayId: json.relayId } : {}) }
  } catch {
    // none cached yet
  }
  if (!httpUrl) {
    if (cached) return ok(cached)
    return err({
      code: 'NETWORK_UNAVAILABLE',
      reason:
        'a TCP multiaddr gives no HTTP URL to fetch the network from; name the relay by its http URL once',
    })
  }
  let fetched: NetworkDescriptor
  let relayId: FeedId | undefined
  try {
    const response = await deps.fetch(new URL('/api/network', httpUrl), {
      signal: AbortSignal.timeout(10_000),
    })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    const checked = checkNetwork(await response.json())
    if (!checked.ok) return checked
    fetched = checked.value
    relayId = (await fetchRelayP2p(httpUrl, deps, AbortSignal.timeout(10_000)).catch(() => undefined))
      ?.relayId as FeedId | undefined
  } catch (e) {
    if (cached) {
      log('relay unreachable (%s): using the cached network', (e as Error).message)
      return ok(cached)
    }
    return err({ code: 'NETWORK_UNAVAILABLE', reason: `${httpUrl}: ${(e as Error).message}` })
  }
  if (cached && cached.id !== fetched.id)
    return err({ code: 'NETWORK_MISMATCH', cached: cached.id, relay: fetched.id })
  const network: CachedNetwork = {
    ...fetched,
    ...(relayId ? { relayId } : cached?.relayId ? { relayId: cached.relayId } : {}),
  }
  const written = await writePrivateFile(path, `${JSON.stringify(network, null, 2)}\n`)
  if (!written.ok) return written
  return ok(network)
}

export async function startHeadlessValidator(
  options: HeadlessValidatorOptions,
  deps: HeadlessValidatorDeps,
): Promise<Result<HeadlessValidator, ValidatorStartError>> {
  const target = parseRelayTarget(options.relay)
  if (!target.ok) return target
  try {
    const made = await mkdir(options.dataDir, { recursive: true, mode: 0o700 })
    if (made !== undefined) await chmod(options.dataDir, 0o700)
  } catch (e) {
    return err({ code: 'DATA_DIR_UNUSABLE', path: options.dataDir, reason: (e as Error).message })
  }
  const keys = await loadOrCreateIdentity(join(options.dataDir, 'identity.json'), deps)
  if (!keys.ok) return keys
  const peerKey = await loadOrCreatePeerKey({ path: join(options.dataDir, 'peer-key.json') }, deps)
  if (!peerKey.ok) return peerKey
  const httpUrl = target.value.kind === 'http' ? target.value.url : httpUrlOfMultiaddr(target.value.addr)
  const network = await loadNetwork(httpUrl, join(options.dataDir, 'network.json'), deps)
  if (!network.ok) return network

  const genesisRecord = network.value.genesis as Record<string, unknown>
  const consensusGenesis = consensusGenesisOf(network.value.id, genesisRecord)
  if (!consensusGenesis.ok) return consensusGenesis
  // Native hashing for the core (item ids, Merkle roots) and item signatures: same bytes, faster.
  const sha256 = createNodeSha256()
  const app = paymentsOf(genesisRecord, sha256)
  if (!app.ok) return app

  const feedsPath = join(options.dataDir, 'feeds')
  let adapter: FeedStorageAdapter
  try {
    adapter = await deps.openFeedAdapter({ path: feedsPath })
  } catch (e) {
    return err({ code: 'FEED_STORE_UNAVAILABLE', path: feedsPath, reason: (e as Error).message })
  }
  const store = await FeedStore.open(
    { networkKey: decodeBase64(network.value.key, 32)! },
    { adapter, ed25519: deps.ed25519, ...(deps.hasher ? { hasher: deps.hasher } : {}) },
  )
  const messagenodes = new Set<FeedId>((network.value.genesis.messagenodes as FeedId[] | undefined) ?? [])
  if (network.value.relayId) messagenodes.add(network.value.relayId)
  const follows = await openFollowGraph(
    { self: [keys.value.id], follow: [...messagenodes], hops: options.hops ?? 2 },
    { store },
  )
  const engine = createReplicationEngine(
    { networkId: network.value.id, requestTimeoutMs: options.requestTimeoutMs ?? 10_000 },
    { store, follows, clock: systemClock },
  )
  let node: NodePeer
  let replication: ReplicationHost
  try {
    node = await createNodePeer({}, { privateKey: peerKey.value.key })
    replication = await startReplicationHost(
      {},
      {
        node,
        engine,
        onMisbehaviour: ({ connection }, end) => {
          log('peer %s misbehaved (%s): disconnecting', end.peer, end.code)
          void connection.close().catch(() => undefined)
        },
      },
    )
  } catch (e) {
    await engine.close()
    follows.close()
    await store.close()
    return err({ code: 'P2P_FAILED', reason: (e as Error).message })
  }
  const networkKey = decodeBase64(network.value.key, 32)!
  const signedBytesOf = nativeSignedBytes(networkKey)
  let wallet: Wallet | undefined
  const runtime = await ConsensusRuntime.start(
    {
      kind: 'validator',
      genesis: consensusGenesis.value,
      networkKey,
      keys: { owner: keys.value, roles: roleKeysOf(keys.value, VALIDATOR_ROLES) },
      ...(options.txIntervalMs === undefined ? {} : { txIntervalMs: options.txIntervalMs }),
    },
    {
      store,
      ed25519: deps.ed25519,
      app: app.value,
      clock: systemClock,
      signedBytesOf,
      sha256,
    },
    // The wallet attaches before the replay: it lists the transfers sent before a restart too.
    (rt) => {
      wallet = createWallet(
        { keys: keys.value, networkKey },
        { runtime: rt, ed25519: deps.ed25519, now: deps.now, signedBytesOf },
      )
    },
  )
  if (!wallet) throw new Error('the runtime started without running its attach hook')
  const relay: KeepConnected = keepConnected(
    {
      name: 'relay',
      resolve: ({ signal }) => resolveRelayTarget(target.value, { prefer: 'tcp' }, deps, signal),
      maxDelayMs: 10_000,
    },
    { node },
  )
  const id = keys.value.id
  return ok({
    id,
    peerId: node.peerId.toString(),
    network: network.value,
    store,
    engine,
    follows,
    node,
    runtime,
    async join(text, joinOptions) {
      const link = readInviteLink(text, network.value.id)
      if (!link.ok) return link
      const request = await createJoinRequest(
        { owner: keys.value, network: network.value.id, invite: link.value.invite, timestamp: deps.now() },
        deps.ed25519,
      )
      const sent = await requestJoin(link.value, request, deps)
      if (!sent.ok) return sent
      const end = deps.now() + (joinOptions?.timeoutMs ?? 60_000)
      while (deps.now() < end) {
        const progress = await admissionProgress(link.value.relay, id, deps)
        if (progress?.status === 'admitted')
          return ok({ height: progress.height, activeFrom: progress.activeFrom })
        if (progress?.status === 'failed')
          return err({
            code: 'JOIN_REFUSED',
            status: 200,
            refusal: 'ADMISSION_FAILED',
            reason: progress.reason,
          })
        await new Promise((resolve) => setTimeout(resolve, 250))
      }
      return err({
        code: 'JOIN_TIMEOUT',
        reason: 'the admission was not sealed in time (is the network sealing blocks?)',
      })
    },
    wallet,
    relayState: () => relay.state(),
    publish: (content) => store.publish(keys.value, content, deps.now()),
    async stop() {
      relay.stop()
      await runtime.stop()
      await replication.stop()
      await engine.close()
      await node.stop()
      follows.close()
      await store.close()
    },
  })
}
