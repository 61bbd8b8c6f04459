/**
 * Invite links (docs/protocol.md, "Invites and joining"): how a demo host shares one link that
 * admits several participants. A link names the relay to join through, the invite and the network:
 *
 *   <relay http(s) origin>/?join=<invite id>&network=<url-encoded network id>
 *
 * It never carries a key: the invite id is a bearer capability the relay checks (cap, expiry,
 * revocation), and the joiner signs its join request with its own key. Pure: randomness is passed in.
 */
import { decodeBase64, encodeBase64 } from '../encoding/base64'
import { isMessageId, type MessageId } from '../identity/ids'
import { err, ok, type Result } from '../result'

/** 16 random bytes in unpadded base64url: 22 characters. */
export type InviteId = string & { readonly __invite: unique symbol }

export const INVITE_ID_BYTES = 16

export interface InviteLink {
  /** The relay's origin: `http(s)://host[:port]`, no path and no trailing slash. */
  readonly relay: string
  readonly invite: InviteId
  readonly network: MessageId
}

export type InviteLinkError =
  | { readonly code: 'INVITE_MALFORMED'; readonly reason: string }
  | { readonly code: 'INVITE_WRONG_NETWORK'; readonly expected: string; readonly got: string }

const INVITE_ID = /^[A-Za-z0-9_-]{22}$/

function encodeBase64Url(bytes: Uint8Array): string {
  return encodeBase64(bytes).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')
}

/** The 16 bytes of a canonical invite id, or undefined (wrong length, alphabet or trailing bits). */
export function inviteIdBytes(text: string): Uint8Array | undefined {
  if (!INVITE_ID.test(text)) return undefined
  return decodeBase64(`${text.replace(/-/g, '+').replace(/_/g, '/')}==`, INVITE_ID_BYTES)
}

export function isInviteId(value: unknown): value is InviteId {
  return typeof value === 'string' && inviteIdBytes(value) !== undefined
}

/** A fresh invite id from `randomBytes` (cryptographic randomness: node:crypto or WebCrypto). */
export function newInviteId(randomBytes: (length: number) => Uint8Array): InviteId {
  const bytes = randomBytes(INVITE_ID_BYTES)
  if (bytes.length !== INVITE_ID_BYTES) throw new RangeError(`randomBytes gave ${bytes.length} bytes, not 16`)
  return encodeBase64Url(bytes) as InviteId
}

const malformed = (reason: string) => err({ code: 'INVITE_MALFORMED' as const, reason })

/**
 * The origin of a relay's HTTP URL: http(s) only, no credentials, no path other than `/`, no query
 * or fragment (a relay is served at the root of its origin).
 */
export function relayOrigin(text: string): Result<string, InviteLinkError> {
  let url: URL
  try {
    url = new URL(text.trim())
  } catch {
    return malformed(`not a URL: ${clip(text)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return malformed(`the relay must be an http or https URL, not ${url.protocol}`)
  if (url.username !== '' || url.password !== '') return malformed('the relay URL must not carry credentials')
  if (url.pathname !== '/') return malformed(`the relay URL must have no path (got ${clip(url.pathname)})`)
  if (url.search !== '' || url.hash !== '') return malformed('the relay URL must have no query or fragment')
  return ok(url.origin)
}

/** The invite link for `invite` on `network` through the relay at `relay` (an http(s) origin or URL). */
export function formatInviteLink(link: {
  readonly relay: string
  readonly invite: InviteId
  readonly network: MessageId
}): string {
  const origin = relayOrigin(link.relay)
  if (!origin.ok) throw new RangeError(`formatInviteLink: ${describeInviteLinkError(origin.error)}`)
  if (!isInviteId(link.invite)) throw new RangeError('formatInviteLink: not an invite id')
  if (!isMessageId(link.network)) throw new RangeError('formatInviteLink: not a network id')
  return `${origin.value}/?join=${link.invite}&network=${encodeURIComponent(link.network)}`
}

export interface ParseInviteOptions {
  /** When given, a link for another network is refused with INVITE_WRONG_NETWORK. */
  readonly expectedNetwork?: string
}

/**
 * Parses an invite link as formatInviteLink writes it. Strict: exactly the `join` and `network`
 * parameters, once each, on the origin's root path; no credentials, no fragment.
 */
export function parseInviteLink(
  text: string,
  options: ParseInviteOptions = {},
): Result<InviteLink, InviteLinkError> {
  if (typeof text !== 'string') return malformed('an invite link is a string')
  const trimmed = text.trim()
  if (trimmed.length > 2048) return malformed('too long for an invite link')
  let url: URL
  try {
    url = new URL(trimmed)
  } catch {
    return malformed(`not a URL: ${clip(trimmed)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return malformed(`an invite link is an http or https URL, not ${url.protocol}`)
  if (url.username !== '' || url.password !== '') return malformed('an invite link carries no credentials')
  if (url.pathname !== '/') return malformed(`an invite link has the path /, not ${clip(url.pathname)}`)
  if (url.hash !== '') return malformed('an invite link has no fragment')
  const params = [...url.searchParams.keys()]
  for (const name of params)
    if (name !== 'join' && name !== 'network') return malformed(`unexpected parameter ${clip(name)}`)
  const joins = url.searchParams.getAll('join')
  const networks = url.searchParams.getAll('network')
  if (joins.length !== 1)
    return malformed(joins.length === 0 ? 'the join parameter is missing' : 'join is repeated')
  if (networks.length !== 1)
    return malformed(networks.length === 0 ? 'the network parameter is missing' : 'network is repeated')
  const invite = joins[0]!
  const network = networks[0]!
  if (!isInviteId(invite)) return malformed('join is not an invite id (16 bytes in unpadded base64url)')
  if (!isMessageId(network)) return malformed('network is not a network id (%….sha256, URL-encoded)')
  if (options.expectedNetwork !== undefined && network !== options.expectedNetwork)
    return err({ code: 'INVITE_WRONG_NETWORK', expected: options.expectedNetwork, got: network })
  return ok({ relay: url.origin, invite, network })
}

/** An invite given as its bare id plus the relay's URL (the CLI's form): the network is the relay's. */
export interface BareInvite {
  readonly relay: string
  readonly invite: InviteId
  readonly network?: undefined
}

/**
 * What a person typed: a whole invite link, or a bare invite id with the relay's URL given apart
 * (`relay`). A bare id carries no network: the caller learns it from the relay (GET /api/network).
 */
export function parseInvite(
  input: string,
  options: ParseInviteOptions & { readonly relay?: string } = {},
): Result<InviteLink | BareInvite, InviteLinkError> {
  if (typeof input !== 'string') return malformed('an invite is a string')
  const text = input.trim()
  if (/^[a-z][a-z0-9+.-]*:/i.test(text)) return parseInviteLink(text, options)
  if (!isInviteId(text)) return malformed('neither an invite link nor an invite id')
  if (options.relay === undefined) return malformed('a bare invite id needs the relay URL')
  const origin = relayOrigin(options.relay)
  if (!origin.ok) return origin
  return ok({ relay: origin.value, invite: text })
}

/** Human-readable, one line. */
export function describeInviteLinkError(error: InviteLinkError): string {
  return error.code === 'INVITE_MALFORMED'
    ? `malformed invite: ${error.reason}`
    : `this invite is for network ${error.got}, not ${error.expected}`
}

function clip(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)
}
