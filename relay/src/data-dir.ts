import { chmod, mkdir, open, readFile, rename, stat } from 'node:fs/promises'
import { join } from 'node:path'
import createDebug from 'debug'
import { type ConsensusParams, DEFAULT_PARAMS } from '../../src/core/consensus'
import { decodeBase64, encodeBase64 } from '../../src/core/encoding/base64'
import { encodeCanonical, messageIdOfText } from '../../src/core/feed/message'
import { type FeedId, isFeedId, isMessageId, type MessageId } from '../../src/core/identity/ids'
import { exportKeys, importKeysText, type KeyPair, keyPairFromSeed } from '../../src/core/identity/keys'
import { err, ok, type Result } from '../../src/core/result'
import { consensusGenesisOf } from '../../src/runtime/genesis'

const log = createDebug('blockfin:relay:data-dir')

/**
 * The relay's data directory: the embedded default network, the relay's and the admin's keys, and
 * the feed store. Created on first start, reused afterwards; nothing here is ever rewritten.
 */
export interface DataDirPaths {
  readonly root: string
  readonly network: string
  readonly relayIdentity: string
  readonly adminIdentity: string
  readonly validatorIdentity: string
  readonly feeds: string
}

export function dataDirPaths(root: string): DataDirPaths {
  return {
    root,
    network: join(root, 'network.json'),
    relayIdentity: join(root, 'relay-identity.json'),
    adminIdentity: join(root, 'admin-identity.json'),
    validatorIdentity: join(root, 'validator-identity.json'),
    feeds: join(root, 'feeds'),
  }
}

/** The network's founding document. Its canonical JSON text names the network: id = `%sha256.sha256` of it. */
export interface Genesis {
  type: 'blockfin/genesis'
  version: 2
  name: string
  /** base64 of the 32-byte network key every signature is HMAC-bound to. */
  networkKey: string
  createdAt: string
  messagenodes: FeedId[]
  admins: FeedId[]
  validators: FeedId[]
  allocations: Record<string, number>
  /** Consensus parameters every node of the network uses (docs/protocol.md, section 15). */
  params: ConsensusParams
}

/**
 * What the admin account holds at genesis: it funds participants admitted through an invite, so a
 * demo participant can send transfers from the first minute.
 */
export const GENESIS_FAUCET_BALANCE = 1_000_000_000

/** Set when this relay joined a network another relay created (BLOCKFIN_JOIN). */
export interface JoinedFrom {
  /** The relay the network was fetched from. */
  from: string
  at: string
}

/** The shape of network.json. */
export interface NetworkFile {
  id: MessageId
  key: string
  genesis: Genesis
  joined?: JoinedFrom
}

export interface NetworkInfo {
  readonly id: MessageId
  readonly key: Uint8Array
  readonly name: string
  readonly genesis: Genesis
  /**
   * A joined relay is not one of the genesis' Messagenodes nor holds its admin key: it replicates
   * and serves the network, and its own Messagenode is followed like any other (docs/relay-api.md).
   */
  readonly joined?: JoinedFrom
}

/** Joining another relay's network on first start: its GET /api/network body, unchecked. */
export interface JoinSource {
  readonly from: string
  readonly network: unknown
}

export type DataDirError =
  | { code: 'DATA_DIR_UNUSABLE'; path: string; reason: string }
  | { code: 'KEY_FILE_PERMISSIONS'; path: string; mode: string }
  | { code: 'KEY_FILE_INVALID'; path: string; reason: string }
  | { code: 'KEY_FILE_MISSING'; path: string }
  | { code: 'NETWORK_FILE_INVALID'; path: string; reason: string }

export interface DataDirDeps {
  /** Cryptographic randomness (node:crypto randomBytes in production). */
  readonly randomBytes: (length: number) => Uint8Array
  readonly now: () => Date
}

export interface DataDir {
  readonly paths: DataDirPaths
  /** True when this call created the network (first start). */
  readonly created: boolean
  readonly network: NetworkInfo
  readonly relayKeys: KeyPair
  /** Present where the network was created (a joined relay holds no admin key). */
  readonly adminKeys: KeyPair | undefined
  /**
   * The relay's own validator, one vote among n: the network seals from its first second, before
   * anyone joins (present where the network was created).
   */
  readonly validatorKeys: KeyPair | undefined
}

/** Key files must be private to their owner: any group or world permission bit is refused. */
const KEY_FILE_MODE = 0o600
const DIR_MODE = 0o700
const FORBIDDEN_KEY_BITS = 0o077

/**
 * Opens the data directory at `options.path`, creating what is missing on first start: the
 * directory (0700), the relay's and the admin's key files (0600, seed 001 listing 1), and
 * network.json with a fresh 32-byte network key. Refuses key files readable by group or others.
 */
export async function openDataDir(
  options: {
    readonly path: string
    readonly join?: JoinSource
    /** A new network only: more genesis Messagenodes (other relays' keys, made beforehand). */
    readonly extraMessagenodes?: readonly FeedId[]
    /** A new network only: consensus parameters other than the defaults. */
    readonly params?: Partial<ConsensusParams>
  },
  deps: DataDirDeps,
): Promise<Result<DataDir, DataDirError>> {
  const paths = dataDirPaths(options.path)
  const dir = await ensureDirectory(paths.root)
  if (!dir.ok) return dir

  const networkExists = await exists(paths.network)
  // A network already names its Messagenode, admin and validator: their keys cannot be made up again.
  const relayKeys = await loadOrCreateKeyFile(paths.relayIdentity, !networkExists, deps)
  if (!relayKeys.ok) return relayKeys
  const creating = !networkExists && !options.join
  const optionalKey = async (path: string) =>
    creating || (await exists(path)) ? loadOrCreateKeyFile(path, creating, deps) : ok(undefined)
  const adminKeys = await optionalKey(paths.adminIdentity)
  if (!adminKeys.ok) return adminKeys
  const validatorKeys = await optionalKey(paths.validatorIdentity)
  if (!validatorKeys.ok) return validatorKeys
  const keys = { relayKeys: relayKeys.value, adminKeys: adminKeys.value, validatorKeys: validatorKeys.value }

  if (!networkExists && options.join) {
    const joined = checkNetworkJson(options.join.network, options.join.from)
    if (!joined.ok) return joined
    const at = deps.now().toISOString()
    const file: NetworkFile = {
      id: joined.value.id,
      key: joined.value.genesis.networkKey,
      genesis: joined.value.genesis,
      joined: { from: options.join.from, at },
    }
    const written = await writeFileAtomic(paths.network, `${JSON.stringify(file, null, 2)}\n`)
    if (!written.ok) return written
    log('joined network %s from %s in %s', file.id, options.join.from, paths.root)
    return ok({
      paths,
      created: false,
      network: { ...joined.value, joined: file.joined! },
      ...keys,
    })
  }

  if (networkExists) {
    const network = await readNetworkFile(paths.network)
    if (!network.ok) return network
    if (network.value.joined) {
      log('reused network %s (joined from %s) in %s', network.value.id, network.value.joined.from, paths.root)
      return ok({
        paths,
        created: false,
        network: network.value,
        ...keys,
      })
    }
    const { genesis } = network.value
    if (!genesis.messagenodes.includes(relayKeys.value.id))
      return err({
        code: 'NETWORK_FILE_INVALID',
        path: paths.network,
        reason: `the relay key (${relayKeys.value.id}) is not a Messagenode of this network`,
      })
    if (adminKeys.value && !genesis.admins.includes(adminKeys.value.id))
      return err({
        code: 'NETWORK_FILE_INVALID',
        path: paths.network,
        reason: `the admin key (${adminKeys.value.id}) is not an admin of this network`,
      })
    if (validatorKeys.value && !genesis.validators.includes(validatorKeys.value.id))
      return err({
        code: 'NETWORK_FILE_INVALID',
        path: paths.network,
        reason: `the validator key (${validatorKeys.value.id}) is not a genesis validator of this network`,
      })
    log('reused network %s in %s', network.value.id, paths.root)
    return ok({
      paths,
      created: false,
      network: network.value,
      ...keys,
    })
  }

  if (!keys.adminKeys || !keys.validatorKeys)
    throw new Error('a new network creates its admin and validator keys')
  const networkKey = deps.randomBytes(32)
  const genesis: Genesis = {
    type: 'blockfin/genesis',
    version: 2,
    name: 'local',
    networkKey: encodeBase64(networkKey),
    createdAt: deps.now().toISOString(),
    messagenodes: [...new Set([relayKeys.value.id, ...(options.extraMessagenodes ?? [])])],
    admins: [keys.adminKeys.id],
    validators: [keys.validatorKeys.id],
    allocations: { [keys.adminKeys.id]: GENESIS_FAUCET_BALANCE },
    params: { ...DEFAULT_PARAMS, ...options.params },
  }
  const network: NetworkInfo = { id: networkIdOf(genesis), key: networkKey, name: genesis.name, genesis }
  const file: NetworkFile = { id: network.id, key: genesis.networkKey, genesis }
  const written = await writeFileAtomic(paths.network, `${JSON.stringify(file, null, 2)}\n`)
  if (!written.ok) return written
  log('created network %s in %s', network.id, paths.root)
  return ok({ paths, created: true, network, ...keys })
}

/**
 * Makes (or reads) the relay key of a data directory that has no network yet, so another relay can
 * name it among a new network's Messagenodes (`extraMessagenodes`); this directory then joins that
 * network (BLOCKFIN_JOIN) and runs its Messagenode with the same key.
 */
export async function ensureRelayIdentity(
  root: string,
  deps: DataDirDeps,
): Promise<Result<KeyPair, DataDirError>> {
  const paths = dataDirPaths(root)
  const dir = await ensureDirectory(paths.root)
  if (!dir.ok) return dir
  // Once a network names the key, it cannot be made up again (as in openDataDir).
  return loadOrCreateKeyFile(paths.relayIdentity, !(await exists(paths.network)), deps)
}

/** The network id: the message-style id of the genesis' canonical JSON text. */
export function networkIdOf(genesis: Genesis): MessageId {
  return messageIdOfText(encodeCanonical(genesis))
}

/** One line a person can act on, for the CLI. */
export function describeDataDirError(error: DataDirError): string {
  switch (error.code) {
    case 'DATA_DIR_UNUSABLE':
      return `data directory ${error.path} cannot be used: ${error.reason}`
    case 'KEY_FILE_PERMISSIONS':
      return (
        `key file ${error.path} has mode ${error.mode}: group or others may access it. ` +
        `Refusing to start; make it private with: chmod 600 ${error.path}`
      )
    case 'KEY_FILE_INVALID':
      return `key file ${error.path} is not a valid identity: ${error.reason}`
    case 'KEY_FILE_MISSING':
      return (
        `key file ${error.path} is missing, but network.json exists and names its key. ` +
        'Restore the file from a backup, or start with an empty data directory.'
      )
    case 'NETWORK_FILE_INVALID':
      return `network file ${error.path} is invalid: ${error.reason}`
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw e
  }
}

async function ensureDirectory(path: string): Promise<Result<void, DataDirError>> {
  try {
    const made = await mkdir(path, { recursive: true, mode: DIR_MODE })
    // mkdir's mode is filtered by the umask; make the directory's own mode exact when we made it.
    if (made !== undefined) await chmod(path, DIR_MODE)
    const s = await stat(path)
    if (!s.isDirectory()) return err({ code: 'DATA_DIR_UNUSABLE', path, reason: 'not a directory' })
    return ok(undefined)
  } catch (e) {
    return err({ code: 'DATA_DIR_UNUSABLE', path, reason: (e as Error).message })
  }
}

async function loadOrCreateKeyFile(
  path: string,
  mayCreate: boolean,
  deps: DataDirDeps,
): Promise<Result<KeyPair, DataDirError>> {
  let mode: number
  try {
    const s = await stat(path)
    if (!s.isFile()) return err({ code: 'KEY_FILE_INVALID', path, reason: 'not a regular file' })
    mode = s.mode & 0o777
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      return err({ code: 'KEY_FILE_INVALID', path, reason: (e as Error).message })
    if (!mayCreate) return err({ code: 'KEY_FILE_MISSING', path })
    const keys = keyPairFromSeed(deps.randomBytes(32))
    const written = await writeFileAtomic(path, `${JSON.stringify(exportKeys(keys), null, 2)}\n`)
    if (!written.ok) return written
    log('created key file %s for %s', path, keys.id)
    return ok(keys)
  }
  if ((mode & FORBIDDEN_KEY_BITS) !== 0)
    return err({ code: 'KEY_FILE_PERMISSIONS', path, mode: `0${mode.toString(8).padStart(3, '0')}` })
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    return err({ code: 'KEY_FILE_INVALID', path, reason: (e as Error).message })
  }
  const keys = importKeysText(text)
  if (!keys.ok) return err({ code: 'KEY_FILE_INVALID', path, reason: keys.error.reason })
  return ok(keys.value)
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

const isFeedIdList = (v: unknown): v is FeedId[] => Array.isArray(v) && v.every(isFeedId)

async function readNetworkFile(path: string): Promise<Result<NetworkInfo, DataDirError>> {
  let json: unknown
  try {
    json = JSON.parse(await readFile(path, 'utf8'))
  } catch (e) {
    return err({ code: 'NETWORK_FILE_INVALID' as const, path, reason: (e as Error).message })
  }
  return checkNetworkJson(json, path)
}

/** Checks a network document (network.json, or another relay's GET /api/network body). */
function checkNetworkJson(json: unknown, path: string): Result<NetworkInfo, DataDirError> {
  const invalid = (reason: string) => err({ code: 'NETWORK_FILE_INVALID' as const, path, reason })
  if (!isRecord(json) || !isRecord(json.genesis)) return invalid('expected {id, key, genesis}')
  const g = json.genesis
  if (g.type === 'blockfin/genesis' && g.version === 1)
    return invalid(
      'this is a genesis v1 network, from before consensus ran in the relay; move the data directory away to start a new network',
    )
  if (g.type !== 'blockfin/genesis' || g.version !== 2) return invalid('genesis is not blockfin/genesis v2')
  if (typeof g.name !== 'string' || typeof g.createdAt !== 'string')
    return invalid('genesis name and createdAt must be strings')
  if (!isFeedIdList(g.messagenodes) || !isFeedIdList(g.admins) || !isFeedIdList(g.validators))
    return invalid('genesis messagenodes, admins and validators must be lists of feed ids')
  if (!isRecord(g.allocations)) return invalid('genesis allocations must be an object')
  const consensus = consensusGenesisOf(json.id as MessageId, g)
  if (!consensus.ok) return invalid(consensus.error.reason)
  if (typeof json.key !== 'string') return invalid('key must be a string')
  const key = decodeBase64(json.key, 32)
  if (!key) return invalid('key must be the base64 of 32 bytes')
  if (g.networkKey !== json.key) return invalid('key differs from genesis.networkKey')
  const genesis = g as unknown as Genesis
  const id = networkIdOf(genesis)
  if (!isMessageId(json.id) || json.id !== id)
    return invalid(`id does not match the genesis (the genesis hashes to ${id})`)
  const joined = json.joined
  if (
    joined !== undefined &&
    !(isRecord(joined) && typeof joined.from === 'string' && typeof joined.at === 'string')
  )
    return invalid('joined must be {from, at}')
  return ok({
    id,
    key,
    name: genesis.name,
    genesis,
    ...(joined ? { joined: joined as unknown as JoinedFrom } : {}),
  })
}

/** Writes a private (0600) file so that a crash leaves either the old state or the whole new file. */
async function writeFileAtomic(path: string, text: string): Promise<Result<void, DataDirError>> {
  const temp = `${path}.tmp`
  try {
    const handle = await open(temp, 'w', KEY_FILE_MODE)
    try {
      await handle.chmod(KEY_FILE_MODE)
      await handle.writeFile(text, 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, path)
    return ok(undefined)
  } catch (e) {
    return err({ code: 'DATA_DIR_UNUSABLE', path, reason: (e as Error).message })
  }
}
