import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  dataDirPaths,
  describeDataDirError,
  GENESIS_FAUCET_BALANCE,
  networkIdOf,
  openDataDir,
} from '../../relay/src/data-dir'
import { DEFAULT_PARAMS } from '../../src/core/consensus'
import { importKeysText } from '../../src/core/identity/keys'

const deps = { randomBytes: (n: number) => new Uint8Array(randomBytes(n)), now: () => new Date() }
const modeOf = async (path: string) => (await stat(path)).mode & 0o777

describe('relay data directory', () => {
  let base: string
  let root: string
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'blockfin-data-dir-'))
    root = join(base, 'relay')
  })
  afterEach(async () => {
    await rm(base, { recursive: true, force: true })
  })

  it('creates the network, key files (0600) and directory (0700) on first open', async () => {
    const opened = await openDataDir({ path: root }, deps)
    if (!opened.ok) throw new Error(describeDataDirError(opened.error))
    const { network, relayKeys, adminKeys, validatorKeys, created } = opened.value
    if (!adminKeys || !validatorKeys) throw new Error('a new network has an admin and a validator')
    expect(created).toBe(true)
    expect(await modeOf(root)).toBe(0o700)
    const paths = dataDirPaths(root)
    expect(await modeOf(paths.relayIdentity)).toBe(0o600)
    expect(await modeOf(paths.adminIdentity)).toBe(0o600)
    expect(await modeOf(paths.validatorIdentity)).toBe(0o600)
    expect(network.key).toHaveLength(32)
    expect(network.genesis).toMatchObject({
      type: 'blockfin/genesis',
      version: 2,
      name: 'local',
      messagenodes: [relayKeys.id],
      admins: [adminKeys.id],
      // The relay's own validator: the network seals before anyone joins.
      validators: [validatorKeys.id],
      // The admin account funds participants admitted through invites.
      allocations: { [adminKeys.id]: GENESIS_FAUCET_BALANCE },
      params: DEFAULT_PARAMS,
    })
    expect(network.id).toBe(networkIdOf(network.genesis))
    const file = JSON.parse(await readFile(paths.network, 'utf8'))
    expect(Object.keys(file)).toEqual(['id', 'key', 'genesis'])
    expect(file.id).toBe(network.id)
    // The key files are seed 001 listing 1 and import back to the same keys.
    const relayFile = importKeysText(await readFile(paths.relayIdentity, 'utf8'))
    expect(relayFile.ok && relayFile.value.id).toBe(relayKeys.id)
  })

  it('reuses everything on the next open', async () => {
    const first = await openDataDir({ path: root }, deps)
    const second = await openDataDir({ path: root }, deps)
    if (!first.ok || !second.ok) throw new Error('open failed')
    expect(second.value.created).toBe(false)
    expect(second.value.network).toEqual(first.value.network)
    expect(second.value.relayKeys.id).toBe(first.value.relayKeys.id)
    expect(second.value.adminKeys?.id).toBe(first.value.adminKeys?.id)
    expect(second.value.validatorKeys?.id).toBe(first.value.validatorKeys?.id)
  })

  it.each([0o644, 0o640, 0o604, 0o620])('refuses a key file with mode %o', async (mode) => {
    await openDataDir({ path: root }, deps)
    const path = dataDirPaths(root).adminIdentity
    await chmod(path, mode)
    const opened = await openDataDir({ path: root }, deps)
    expect(opened.ok).toBe(false)
    if (opened.ok) return
    expect(opened.error).toEqual({ code: 'KEY_FILE_PERMISSIONS', path, mode: `0${mode.toString(8)}` })
    expect(describeDataDirError(opened.error)).toContain(`chmod 600 ${path}`)
  })

  it('refuses to make up a key that the existing network already names', async () => {
    await openDataDir({ path: root }, deps)
    const path = dataDirPaths(root).relayIdentity
    await rm(path)
    const opened = await openDataDir({ path: root }, deps)
    expect(!opened.ok && opened.error).toEqual({ code: 'KEY_FILE_MISSING', path })
  })

  it('refuses a key file that is not an identity', async () => {
    await openDataDir({ path: root }, deps)
    const path = dataDirPaths(root).relayIdentity
    await writeFile(path, '{"curve":"ed25519"}', { mode: 0o600 })
    const opened = await openDataDir({ path: root }, deps)
    expect(!opened.ok && opened.error.code).toBe('KEY_FILE_INVALID')
  })

  it('refuses a network.json whose genesis was edited', async () => {
    await openDataDir({ path: root }, deps)
    const path = dataDirPaths(root).network
    const file = JSON.parse(await readFile(path, 'utf8'))
    file.genesis.allocations = { '@someone': 1000 }
    await writeFile(path, JSON.stringify(file, null, 2))
    const opened = await openDataDir({ path: root }, deps)
    expect(opened.ok).toBe(false)
    if (!opened.ok) expect(opened.error).toMatchObject({ code: 'NETWORK_FILE_INVALID', path })
  })

  it('refuses a network that does not name this relay as a Messagenode', async () => {
    await openDataDir({ path: root }, deps)
    const other = join(base, 'other')
    await openDataDir({ path: other }, deps)
    // Another network's file next to this relay's keys.
    await writeFile(dataDirPaths(root).network, await readFile(dataDirPaths(other).network))
    const opened = await openDataDir({ path: root }, deps)
    expect(!opened.ok && opened.error.code).toBe('NETWORK_FILE_INVALID')
  })

  it('reports a data directory path that is a file', async () => {
    await writeFile(root, 'not a directory')
    const opened = await openDataDir({ path: root }, deps)
    expect(!opened.ok && opened.error.code).toBe('DATA_DIR_UNUSABLE')
  })

  it('refuses a genesis v1 network (from before consensus) with a clear reason', async () => {
    await openDataDir({ path: root }, deps)
    const path = dataDirPaths(root).network
    const file = JSON.parse(await readFile(path, 'utf8'))
    const { params: _params, ...v1 } = { ...file.genesis, version: 1 }
    await writeFile(path, JSON.stringify({ ...file, id: networkIdOf(v1), genesis: v1 }))
    const opened = await openDataDir({ path: root }, deps)
    expect(!opened.ok && opened.error.code).toBe('NETWORK_FILE_INVALID')
    expect(!opened.ok && describeDataDirError(opened.error)).toContain('move the data directory away')
  })

  it('a relay that joins a network holds neither its admin key nor its validator key', async () => {
    const first = await openDataDir({ path: root }, deps)
    if (!first.ok) throw new Error('open failed')
    const joined = await openDataDir(
      {
        path: join(base, 'joined'),
        join: {
          from: 'http://127.0.0.1:1',
          network: JSON.parse(await readFile(dataDirPaths(root).network, 'utf8')),
        },
      },
      deps,
    )
    if (!joined.ok) throw new Error(describeDataDirError(joined.error))
    expect(joined.value.adminKeys).toBeUndefined()
    expect(joined.value.validatorKeys).toBeUndefined()
    expect(joined.value.network.id).toBe(first.value.network.id)
  })
})
