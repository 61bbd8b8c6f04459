import createDebug from 'debug'
import { type DBSchema, openDB } from 'idb'
import { decodeBase64 } from '../core/encoding/base64'
import { encodeCanonical, messageIdOfText } from '../core/feed/message'
import type { MessageId } from '../core/identity/ids'
import { err, ok, type Result } from '../core/result'

const log = createDebug('blockfin:app:network')

/** What GET /api/network answers, checked: the id is the hash of the genesis, the key is its key. */
export interface NetworkDescriptor {
  readonly id: MessageId
  /** base64 of the 32-byte network key. */
  readonly key: string
  readonly name: string
  readonly genesis: Record<string, unknown>
}

export interface LoadedNetwork {
  readonly network: NetworkDescriptor
  readonly keyBytes: Uint8Array
  /** 'relay' when fetched now; 'cache' when the relay could not be reached and the last copy was used. */
  readonly source: 'relay' | 'cache'
}

export type NetworkError =
  | { code: 'NETWORK_UNAVAILABLE'; reason: string }
  | { code: 'NETWORK_INVALID'; reason: string }

/** Where the last network seen is kept, so the app starts offline. */
export interface NetworkCache {
  load(): Promise<NetworkDescriptor | undefined>
  save(network: NetworkDescriptor): Promise<void>
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/** Checks a network document; the id must be the message-style id of the genesis' canonical JSON. */
export function checkNetwork(json: unknown): Result<NetworkDescriptor, NetworkError> {
  const invalid = (reason: string) => err({ code: 'NETWORK_INVALID' as const, reason })
  if (!isRecord(json) || !isRecord(json.genesis)) return invalid('expected {id, key, name, genesis}')
  if (typeof json.key !== 'string' || !decodeBase64(json.key, 32))
    return invalid('key must be the base64 of 32 bytes')
  if (json.genesis.networkKey !== json.key) return invalid('key differs from genesis.networkKey')
  const id = messageIdOfText(encodeCanonical(json.genesis))
  if (json.id !== id) return invalid(`id does not match the genesis (which hashes to ${id})`)
  const name = typeof json.name === 'string' ? json.name : String(json.genesis.name ?? '')
  return ok({ id, key: json.key, name, genesis: json.genesis })
}

export interface LoadNetworkDeps {
  readonly fetch: typeof globalThis.fetch
  readonly cache: NetworkCache
}

/**
 * The network this tab belongs to: fetched from the relay when it answers (and cached), otherwise
 * the cached copy. Only when neither exists does it fail.
 */
export async function loadNetwork(
  options: { readonly url: string },
  deps: LoadNetworkDeps,
): Promise<Result<LoadedNetwork, NetworkError>> {
  let reason: string
  try {
    const response = await deps.fetch(options.url, { cache: 'no-store' })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    const checked = checkNetwork(await response.json())
    if (!checked.ok) return checked
    await deps.cache.save(checked.value)
    return ok({ network: checked.value, keyBytes: decodeBase64(checked.value.key, 32)!, source: 'relay' })
  } catch (e) {
    reason = (e as Error).message
    log('relay unreachable (%s); trying the cached network', reason)
  }
  const cached = await deps.cache.load()
  if (!cached)
    return err({
      code: 'NETWORK_UNAVAILABLE',
      reason: `the relay did not answer (${reason}) and no copy is cached`,
    })
  const checked = checkNetwork(cached)
  if (!checked.ok) return checked
  return ok({ network: checked.value, keyBytes: decodeBase64(checked.value.key, 32)!, source: 'cache' })
}

interface NetworkDb extends DBSchema {
  network: { key: 'current'; value: NetworkDescriptor }
}

/** The IndexedDB network cache: one record, the last network the relay served. */
export async function openNetworkCache(options: { readonly name: string }): Promise<NetworkCache> {
  const db = await openDB<NetworkDb>(options.name, 1, {
    upgrade(database) {
      database.createObjectStore('network')
    },
  })
  return {
    load: () => db.get('network', 'current'),
    async save(network) {
      await db.put('network', network, 'current')
    },
  }
}
