import { hmac } from '@noble/hashes/hmac.js'
import { sha512 } from '@noble/hashes/sha2.js'
import { utf8Encode } from '../encoding/bytes'
import { err, ok, type Result } from '../result'
import { type FeedId, isFeedId } from './ids'
import { exportKeys, type KeyPair, type KeysJson, keyPairFromSeed } from './keys'

/** Roles of seed 001. A node signs "as" a role with that role's own key; the owner certifies the key. */
export const VALIDATOR_ROLES = ['transaction-validator', 'precommitter', 'committer', 'sealer'] as const
export const MESSAGENODE_ROLES = [
  'empty-block-producer',
  'block-assembler',
  'precommit-counter',
  'commit-counter',
  'seal-counter',
] as const
export type ValidatorRole = (typeof VALIDATOR_ROLES)[number]
export type MessagenodeRole = (typeof MESSAGENODE_ROLES)[number]
export type Role = ValidatorRole | MessagenodeRole

const ALL_ROLES: readonly string[] = [...VALIDATOR_ROLES, ...MESSAGENODE_ROLES]
export const isRole = (value: unknown): value is Role =>
  typeof value === 'string' && ALL_ROLES.includes(value)

export interface RoleKeyPair extends KeyPair {
  readonly ownerId: FeedId
  readonly role: Role
}

/** Listing 2: a role identity is listing 1 plus the owner and the role. */
export interface RoleKeysJson extends KeysJson {
  ownerid: FeedId
  role: Role
}

/**
 * Role keys are derived from the owner's seed (HMAC-SHA-512 with a fixed label), so the owner's
 * exported key file is a complete backup: importing it restores every role feed's key.
 */
export function deriveRoleKeys(owner: KeyPair, role: Role): RoleKeyPair {
  const seed = hmac(sha512, owner.seed, utf8Encode(`blockfin/role-key/v1/${role}`)).subarray(0, 32)
  return { ...keyPairFromSeed(seed), ownerId: owner.id, role }
}

export function exportRoleKeys(keys: RoleKeyPair): RoleKeysJson {
  return { ...exportKeys(keys), ownerid: keys.ownerId, role: keys.role }
}

/** The content of the owner-signed message that certifies a role key on one network. */
export interface RoleCertificateContent {
  type: 'blockfin/role'
  ownerid: FeedId
  role: Role
  roleid: FeedId
  network: string
}

export function roleCertificateContent(roleKeys: RoleKeyPair, networkId: string): RoleCertificateContent {
  return {
    type: 'blockfin/role',
    ownerid: roleKeys.ownerId,
    role: roleKeys.role,
    roleid: roleKeys.id,
    network: networkId,
  }
}

export type RoleCertificateError = { code: 'ROLE_CERT_INVALID'; reason: string }

/**
 * Checks a certificate message whose signature the feed layer has already verified: it must be
 * authored by the owner it names, for a known role, on this network.
 */
export function checkRoleCertificate(
  message: { author: FeedId; content: Record<string, unknown> },
  networkId: string,
): Result<{ ownerId: FeedId; role: Role; roleId: FeedId }, RoleCertificateError> {
  const c = message.content
  if (c.type !== 'blockfin/role')
    return err({ code: 'ROLE_CERT_INVALID', reason: 'content type is not blockfin/role' })
  if (c.ownerid !== message.author)
    return err({ code: 'ROLE_CERT_INVALID', reason: 'ownerid differs from the signing author' })
  if (!isRole(c.role)) return err({ code: 'ROLE_CERT_INVALID', reason: `unknown role ${String(c.role)}` })
  if (!isFeedId(c.roleid)) return err({ code: 'ROLE_CERT_INVALID', reason: 'roleid is not a feed id' })
  if (c.network !== networkId)
    return err({ code: 'ROLE_CERT_INVALID', reason: 'certificate is for another network' })
  return ok({ ownerId: message.author, role: c.role, roleId: c.roleid })
}
