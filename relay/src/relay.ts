import createDebug from 'debug'
import type { Ed25519Backend } from '../../src/core/crypto/ed25519'
import type { KeyPair } from '../../src/core/identity/keys'
import { err, ok, type Result } from '../../src/core/result'
import type { FeedStorageAdapter } from '../../src/store/adapter'
import { FeedStore } from '../../src/store/feed-store'
import { type DataDirDeps, type DataDirError, type NetworkInfo, openDataDir } from './data-dir'
import { type RunningHttpServer, startHttpServer } from './http'
import { ensureMessagenodeRoles, type RoleCertificateFailure } from './role-certificates'

const log = createDebug('blockfin:relay')

export interface RelayOptions {
  readonly dataDir: string
  readonly distDir: string
  readonly host: string
  readonly port: number
}

export interface RelayDeps extends DataDirDeps {
  readonly ed25519: Ed25519Backend
  readonly openFeedAdapter: (options: { path: string }) => Promise<FeedStorageAdapter>
}

export type RelayStartError =
  | DataDirError
  | RoleCertificateFailure
  | { code: 'FEED_STORE_UNAVAILABLE'; path: string; reason: string }
  | { code: 'LISTEN_FAILED'; host: string; port: number; reason: string }

export interface Relay {
  readonly network: NetworkInfo
  readonly relayKeys: KeyPair
  readonly adminKeys: KeyPair
  readonly dataDir: string
  /** True on the first start of this data directory. */
  readonly createdNetwork: boolean
  readonly port: number
  readonly store: FeedStore
  /** Stops accepting requests, then closes the feed store. */
  close(): Promise<void>
}

/** Opens (or creates) the data directory, the feed store and the role certificates, then serves HTTP. */
export async function startRelay(
  options: RelayOptions,
  deps: RelayDeps,
): Promise<Result<Relay, RelayStartError>> {
  const dir = await openDataDir({ path: options.dataDir }, deps)
  if (!dir.ok) return dir
  const { network, relayKeys, adminKeys, paths } = dir.value

  let adapter: FeedStorageAdapter
  try {
    adapter = await deps.openFeedAdapter({ path: paths.feeds })
  } catch (e) {
    return err({ code: 'FEED_STORE_UNAVAILABLE', path: paths.feeds, reason: (e as Error).message })
  }
  const store = await FeedStore.open({ networkKey: network.key }, { adapter, ed25519: deps.ed25519 })

  const roles = await ensureMessagenodeRoles(
    { owner: relayKeys, networkId: network.id },
    { store, now: () => deps.now().getTime() },
  )
  if (!roles.ok) {
    await store.close()
    return roles
  }
  if (roles.value.published.length > 0) log('certified roles %o', roles.value.published)

  let http: RunningHttpServer
  try {
    http = await startHttpServer(
      { distDir: options.distDir, host: options.host, port: options.port },
      {
        network,
        relay: { id: relayKeys.id, roles: roles.value.roles.map((r) => ({ role: r.role, id: r.id })) },
        feeds: store,
        startedAt: deps.now(),
      },
    )
  } catch (e) {
    await store.close()
    return err({
      code: 'LISTEN_FAILED',
      host: options.host,
      port: options.port,
      reason: (e as Error).message,
    })
  }

  let closing: Promise<void> | undefined
  return ok({
    network,
    relayKeys,
    adminKeys,
    dataDir: paths.root,
    createdNetwork: dir.value.created,
    port: http.port,
    store,
    close: () => {
      closing ??= (async () => {
        try {
          await http.close()
        } finally {
          await store.close()
        }
      })()
      return closing
    },
  })
}
