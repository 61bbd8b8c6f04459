/**
 * The join request a would-be validator sends to a relay with an invite (POST /api/join): its
 * owner id and its four validator role ids, for one network and one invite, signed by the owner.
 *
 * Signed bytes: the UTF-8 of the canonical text (encodeCanonical: JSON.stringify with two-space
 * indentation) of the request without `signature`, keys in the order of JOIN_KEYS and roles in
 * the order of VALIDATOR_ROLES. No network-key HMAC: the network id is itself a signed field, and
 * the `blockfin/join` type keeps these bytes apart from anything else an owner signs. The verifier
 * rebuilds the canonical text from the decoded fields, so the sender's key order does not matter.
 * Pure: the clock and the Ed25519 backend are passed in.
 */
import type { Ed25519Backend } from '../crypto/ed25519'
import { utf8Encode } from '../encoding/bytes'
import { encodeCanonical } from '../feed/message'
import {
  decodeSignature,
  encodeSignature,
  type FeedId,
  isFeedId,
  isMessageId,
  type MessageId,
  publicKeyOfFeedId,
} from '../identity/ids'
import type { KeyPair } from '../identity/keys'
import { deriveRoleKeys, VALIDATOR_ROLES, type ValidatorRole } from '../identity/roles'
import { err, ok, type Result } from '../result'
import { type InviteId, isInviteId } from './link'

export const JOIN_TYPE = 'blockfin/join'
export const JOIN_VERSION = 1
/** How far a request's timestamp may be from the verifier's clock, either way. */
export const JOIN_MAX_SKEW_MS = 10 * 60 * 1000
/** The relay refuses larger bodies; a request is about 900 bytes. */
export const JOIN_MAX_BYTES = 8 * 1024

export type JoinRoles = { readonly [R in ValidatorRole]: FeedId }

export interface JoinRequest {
  readonly type: typeof JOIN_TYPE
  readonly version: typeof JOIN_VERSION
  readonly network: MessageId
  readonly invite: InviteId
  readonly owner: FeedId
  readonly roles: JoinRoles
  /** Milliseconds since the epoch, when the owner signed. */
  readonly timestamp: number
  /** `<base64 of 64 bytes>.sig.ed25519`, by the owner's key. */
  readonly signature: string
}

export const JOIN_KEYS = [
  'type',
  'version',
  'network',
  'invite',
  'owner',
  'roles',
  'timestamp',
  'signature',
] as const

export type JoinRequestError =
  | { readonly code: 'JOIN_MALFORMED'; readonly field: string; readonly reason: string }
  | { readonly code: 'JOIN_BAD_SIGNATURE'; readonly owner: FeedId }
  | { readonly code: 'JOIN_WRONG_NETWORK'; readonly expected: string; readonly got: string }
  | {
      readonly code: 'JOIN_STALE'
      readonly timestamp: number
      readonly now: number
      readonly maxSkewMs: number
    }

type Unsigned = Omit<JoinRequest, 'signature'>

/** The fields in canonical order (roles too), without the signature. */
function unsignedOf(r: Unsigned): Unsigned {
  const roles = {} as Record<ValidatorRole, FeedId>
  for (const role of VALIDATOR_ROLES) roles[role] = r.roles[role]
  return {
    type: JOIN_TYPE,
    version: JOIN_VERSION,
    network: r.network,
    invite: r.invite,
    owner: r.owner,
    roles,
    timestamp: r.timestamp,
  }
}

/** The bytes the owner signs. */
export function joinRequestSignedBytes(request: Unsigned): Uint8Array {
  return utf8Encode(encodeCanonical(unsignedOf(request)))
}

/** The four validator role ids of an owner (its role keys are derived from its seed). */
export function validatorRoleIds(owner: KeyPair): JoinRoles {
  const roles = {} as Record<ValidatorRole, FeedId>
  for (const role of VALIDATOR_ROLES) roles[role] = deriveRoleKeys(owner, role).id
  return roles
}

/** Builds and signs a join request. `roles` defaults to the owner's derived validator role ids. */
export async function createJoinRequest(
  input: {
    readonly owner: KeyPair
    readonly network: MessageId
    readonly invite: InviteId
    readonly timestamp: number
    readonly roles?: JoinRoles
  },
  ed25519: Ed25519Backend,
): Promise<JoinRequest> {
  const unsigned = unsignedOf({
    type: JOIN_TYPE,
    version: JOIN_VERSION,
    network: input.network,
    invite: input.invite,
    owner: input.owner.id,
    roles: input.roles ?? validatorRoleIds(input.owner),
    timestamp: input.timestamp,
  })
  const checked = decodeJoinRequest({ ...unsigned, signature: encodeSignature(new Uint8Array(64)) })
  if (!checked.ok) throw new RangeError(`createJoinRequest: ${describeJoinRequestError(checked.error)}`)
  const signature = await ed25519.sign(input.owner.seed, joinRequestSignedBytes(unsigned))
  return { ...unsigned, signature: encodeSignature(signature) }
}

/** The request's JSON text (canonical key order), as sent in POST /api/join. */
export function encodeJoinRequest(request: JoinRequest): string {
  return encodeCanonical({ ...unsignedOf(request), signature: request.signature })
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

const malformed = (field: string, reason: string) => err({ code: 'JOIN_MALFORMED' as const, field, reason })

/** Checks the shape of a join request (JSON already parsed); the signature is not verified here. */
export function decodeJoinRequest(value: unknown): Result<JoinRequest, JoinRequestError> {
  if (!isRecord(value)) return malformed('', 'a join request is a JSON object')
  if (value.type !== JOIN_TYPE) return malformed('type', `type must be "${JOIN_TYPE}"`)
  if (value.version !== JOIN_VERSION)
    return malformed(
      'version',
      `unsupported version ${clip(value.version)} (this side speaks ${JOIN_VERSION})`,
    )
  const keys = Object.keys(value)
  for (const key of keys)
    if (!(JOIN_KEYS as readonly string[]).includes(key))
      return malformed(key, `unexpected field ${clip(key)}`)
  for (const key of JOIN_KEYS) if (!(key in value)) return malformed(key, `${key} is missing`)
  if (!isMessageId(value.network)) return malformed('network', 'network must be a network id (%….sha256)')
  if (!isInviteId(value.invite))
    return malformed('invite', 'invite must be an invite id (22 base64url characters)')
  if (!isFeedId(value.owner)) return malformed('owner', 'owner must be an @….ed25519 id')
  const roles = value.roles
  if (!isRecord(roles)) return malformed('roles', 'roles must be an object of role to role id')
  const roleKeys = Object.keys(roles)
  for (const key of roleKeys)
    if (!(VALIDATOR_ROLES as readonly string[]).includes(key))
      return malformed('roles', `unexpected role ${clip(key)}`)
  const seen = new Set<string>([value.owner])
  for (const role of VALIDATOR_ROLES) {
    const id = roles[role]
    if (id === undefined) return malformed('roles', `the ${role} role id is missing`)
    if (!isFeedId(id)) return malformed('roles', `the ${role} role id must be an @….ed25519 id`)
    if (seen.has(id)) return malformed('roles', `the ${role} role id repeats the owner or another role`)
    seen.add(id)
  }
  const timestamp = value.timestamp
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp < 0)
    return malformed('timestamp', 'timestamp must be a non-negative integer (milliseconds since the epoch)')
  if (typeof value.signature !== 'string' || decodeSignature(value.signature) === undefined)
    return malformed('signature', 'signature must be <base64 of 64 bytes>.sig.ed25519')
  return ok(value as unknown as JoinRequest)
}

/** Parses the JSON text of a join request and checks its shape. */
export function parseJoinRequest(text: string): Result<JoinRequest, JoinRequestError> {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return malformed('', `not JSON: ${(e as Error).message}`)
  }
  return decodeJoinRequest(json)
}

export interface JoinVerifyContext {
  /** The network this side is on. */
  readonly network: string
  /** The verifier's clock, milliseconds since the epoch. */
  readonly now: number
  /** Default JOIN_MAX_SKEW_MS (10 minutes). */
  readonly maxSkewMs?: number
}

/**
 * Decodes and verifies a join request: shape, network, freshness (timestamp within ±maxSkewMs of
 * `now`), then the owner's signature. Errors in that order, so a cheap check fails first.
 */
export async function verifyJoinRequest(
  value: unknown,
  ctx: JoinVerifyContext,
  ed25519: Ed25519Backend,
): Promise<Result<JoinRequest, JoinRequestError>> {
  const decoded = decodeJoinRequest(value)
  if (!decoded.ok) return decoded
  const request = decoded.value
  if (request.network !== ctx.network)
    return err({ code: 'JOIN_WRONG_NETWORK', expected: ctx.network, got: request.network })
  const maxSkewMs = ctx.maxSkewMs ?? JOIN_MAX_SKEW_MS
  if (Math.abs(request.timestamp - ctx.now) > maxSkewMs)
    return err({ code: 'JOIN_STALE', timestamp: request.timestamp, now: ctx.now, maxSkewMs })
  const publicKey = publicKeyOfFeedId(request.owner)!
  const signature = decodeSignature(request.signature)!
  const [valid] = await ed25519.verifyBatch([
    { publicKey, message: joinRequestSignedBytes(request), signature },
  ])
  if (!valid) return err({ code: 'JOIN_BAD_SIGNATURE', owner: request.owner })
  return ok(unsignedAndSignature(request))
}

/** A fresh object in canonical order: nothing the sender added by prototype or key order survives. */
function unsignedAndSignature(request: JoinRequest): JoinRequest {
  return { ...unsignedOf(request), signature: request.signature }
}

/** Human-readable, one line. */
export function describeJoinRequestError(error: JoinRequestError): string {
  switch (error.code) {
    case 'JOIN_MALFORMED':
      return `malformed join request${error.field ? ` (${error.field})` : ''}: ${error.reason}`
    case 'JOIN_BAD_SIGNATURE':
      return `the join request's signature is not ${error.owner}'s`
    case 'JOIN_WRONG_NETWORK':
      return `the join request is for network ${error.got}, this relay is on ${error.expected}`
    case 'JOIN_STALE':
      return (
        `the join request's timestamp is ${Math.round((error.timestamp - error.now) / 1000)} s from this ` +
        `relay's clock (at most ${error.maxSkewMs / 1000} s allowed): check the clock and sign again`
      )
  }
}

function clip(value: unknown): string {
  const text = typeof value === 'string' ? value : String(JSON.stringify(value))
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)
}
