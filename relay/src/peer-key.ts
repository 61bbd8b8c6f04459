/**
 * The libp2p peer key of a Node process (the relay, a headless validator), kept in its data
 * directory so its peer id, and so its multiaddrs, survive restarts (STACK-NOTES note 12).
 *
 * Same rules as the other key files (relay/src/data-dir.ts): mode 0600, refused when group or others
 * may access it, written atomically (temp file, fsync, rename). Unlike the network's keys, a missing
 * peer key is simply created: it names a connection endpoint, not an identity anything signed.
 *
 * File shape: `{"type": "blockfin/libp2p-peer-key", "version": 1, "peerId": "12D3…",
 * "privateKey": "<base64 of the libp2p private-key protobuf>"}`.
 */
import { open, readFile, rename, stat } from 'node:fs/promises'
import { generateKeyPairFromSeed, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import createDebug from 'debug'
import { decodeBase64, encodeBase64 } from '../../src/core/encoding/base64'
import { err, ok, type Result } from '../../src/core/result'

const log = createDebug('blockfin:relay:peer-key')

export type PeerKeyError =
  | { code: 'KEY_FILE_PERMISSIONS'; path: string; mode: string }
  | { code: 'KEY_FILE_INVALID'; path: string; reason: string }
  | { code: 'DATA_DIR_UNUSABLE'; path: string; reason: string }

export interface PeerKeyFile {
  type: 'blockfin/libp2p-peer-key'
  version: 1
  peerId: string
  privateKey: string
}

const KEY_FILE_MODE = 0o600
const FORBIDDEN_KEY_BITS = 0o077

export interface PeerKeyDeps {
  readonly randomBytes: (length: number) => Uint8Array
}

/** Loads the peer key at `options.path`, creating an Ed25519 key there when the file is missing. */
export async function loadOrCreatePeerKey(
  options: { readonly path: string },
  deps: PeerKeyDeps,
): Promise<Result<{ key: PrivateKey; created: boolean }, PeerKeyError>> {
  const { path } = options
  let mode: number
  try {
    const s = await stat(path)
    if (!s.isFile()) return err({ code: 'KEY_FILE_INVALID', path, reason: 'not a regular file' })
    mode = s.mode & 0o777
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      return err({ code: 'KEY_FILE_INVALID', path, reason: (e as Error).message })
    const key = await generateKeyPairFromSeed('Ed25519', deps.randomBytes(32))
    const file: PeerKeyFile = {
      type: 'blockfin/libp2p-peer-key',
      version: 1,
      peerId: peerIdFromPrivateKey(key).toString(),
      privateKey: encodeBase64(privateKeyToProtobuf(key)),
    }
    const written = await writePrivateFile(path, `${JSON.stringify(file, null, 2)}\n`)
    if (!written.ok) return written
    log('created peer key %s (%s)', path, file.peerId)
    return ok({ key, created: true })
  }
  const private_ = checkPrivateMode(path, mode)
  if (!private_.ok) return private_
  const invalid = (reason: string) => err({ code: 'KEY_FILE_INVALID' as const, path, reason })
  let json: Partial<PeerKeyFile>
  try {
    json = JSON.parse(await readFile(path, 'utf8')) as Partial<PeerKeyFile>
  } catch (e) {
    return invalid((e as Error).message)
  }
  if (json?.type !== 'blockfin/libp2p-peer-key' || json.version !== 1)
    return invalid('not a blockfin/libp2p-peer-key v1 file')
  const bytes = typeof json.privateKey === 'string' ? decodeBase64(json.privateKey) : undefined
  if (!bytes) return invalid('privateKey must be base64')
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (e) {
    return invalid(`privateKey is not a libp2p private key: ${(e as Error).message}`)
  }
  const peerId = peerIdFromPrivateKey(key).toString()
  if (json.peerId !== peerId) return invalid(`peerId does not match the key (the key is ${peerId})`)
  return ok({ key, created: false })
}

/** Key files must be private to their owner: any group or world permission bit is refused. */
export function checkPrivateMode(path: string, mode: number): Result<void, PeerKeyError> {
  if ((mode & FORBIDDEN_KEY_BITS) !== 0)
    return err({ code: 'KEY_FILE_PERMISSIONS', path, mode: `0${mode.toString(8).padStart(3, '0')}` })
  return ok(undefined)
}

/** Writes a private (0600) file so that a crash leaves either no file or the whole new one. */
export async function writePrivateFile(path: string, text: string): Promise<Result<void, PeerKeyError>> {
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
