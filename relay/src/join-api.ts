/**
 * The join API (docs/relay-api.md, "Joining"): a would-be validator posts a signed join request
 * with an invite; the relay verifies it, takes a place on the invite and hands the owner to
 * `admit` (which makes the admin-signed member item and submits it to the relay's host
 * validator). Admins list, create and revoke invites with the bearer token in `admin-token`.
 *
 *   POST /api/join                      body: the join request (≤ 8 KiB) → 202 {status, owner, item}
 *   GET  /api/join/<url-encoded owner>  → the admission's status
 *   GET  /api/invites                   (admin) → {invites}
 *   POST /api/invites                   (admin) body {cap?, expires?, expiresAt?, label?} → 201 {invite}
 *   POST /api/invites/<id>/revoke       (admin) → {invite}
 *
 * Routed by relay/src/http.ts (its `join` dependency); everything the relay's start-up must
 * provide is in JoinApiDeps, so tests pass their own.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import createDebug from 'debug'
import type { Ed25519Backend } from '../../src/core/crypto/ed25519'
import { type FeedId, isFeedId, type MessageId } from '../../src/core/identity/ids'
import {
  describeJoinRequestError,
  JOIN_MAX_BYTES,
  type JoinRequestError,
  type JoinRoles,
  verifyJoinRequest,
} from '../../src/core/invite/join-request'
import { formatInviteLink, type InviteId } from '../../src/core/invite/link'
import type { Digest } from '../../src/core/merkle'
import { ok, type Result } from '../../src/core/result'
import {
  DEFAULT_INVITE,
  describeInviteBookError,
  type InviteBook,
  type InviteBookDeps,
  type InviteBookError,
  type InviteView,
  loadOrCreateAdminToken,
  openInviteBook,
  parseDuration,
} from './invites'

const log = createDebug('blockfin:relay:join')

/** What `admit` answers once the member item is made and submitted: the item's id. */
export interface Admission {
  readonly item: Digest
}

export type AdmitError =
  /** The owner is a validator already (or its add is already committed). */
  | { readonly code: 'ALREADY_MEMBER'; readonly owner: FeedId }
  /** This relay cannot admit now (no admin key, host validator not running): try later or elsewhere. */
  | { readonly code: 'ADMIT_UNAVAILABLE'; readonly reason: string }
  /** The relay will not admit this owner (a policy of the relay, e.g. removed before). */
  | { readonly code: 'ADMIT_REFUSED'; readonly reason: string }

/** The admission of an owner as GET /api/join/<owner> reports it. */
export type AdmissionStatus =
  /** The member item is submitted, not yet in a committed block. */
  | { readonly status: 'pending'; readonly item: Digest }
  /** Committed in the block of `height`; the owner votes from height `activeFrom` (height + K). */
  | {
      readonly status: 'admitted'
      readonly item: Digest
      readonly height: number
      readonly activeFrom: number
    }
  /** Executed but refused (e.g. BAD_NONCE), or never submitted. */
  | { readonly status: 'failed'; readonly item?: Digest; readonly reason: string }

export interface JoinApiOptions {
  /** The relay's network id: join requests for another network are refused. */
  readonly network: MessageId
  /** The admin bearer token (loadOrCreateAdminToken). */
  readonly adminToken: string
  /**
   * The relay's public origin for the links in invite answers (e.g. `https://demo.example.org`).
   * Default: `http://<Host header>`.
   */
  readonly origin?: string
  /** Largest POST body accepted. Default JOIN_MAX_BYTES (8 KiB). */
  readonly maxBodyBytes?: number
  /** Allowed clock difference for join requests. Default 10 minutes. */
  readonly maxSkewMs?: number
}

export interface JoinApiDeps {
  readonly invites: Pick<InviteBook, 'list' | 'create' | 'revoke' | 'consume' | 'release'>
  readonly ed25519: Ed25519Backend
  readonly now: () => Date
  /**
   * Makes and submits the admin-signed `member` add item for `owner` (the lead's: relay start-up).
   * Called again when an owner who already used the invite posts again (a retry): it should then
   * answer the existing admission. Calls for one owner never overlap (the API waits for the first).
   */
  admit(owner: FeedId, roles: JoinRoles): Promise<Result<Admission, AdmitError>>
  /** The admission of `owner`, or undefined when this relay never admitted it. */
  admission(owner: FeedId): Promise<AdmissionStatus | undefined>
}

export interface JoinApi {
  /** True for the paths this API answers: /api/join, /api/join/…, /api/invites, /api/invites/…. */
  handles(pathname: string): boolean
  /** Answers one request. Expected failures are typed 4xx answers; a bug rejects (http.ts answers 500). */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void>
}

export type JoinApiErrorCode =
  | JoinRequestError['code']
  | 'INVITE_UNKNOWN'
  | 'INVITE_EXPIRED'
  | 'INVITE_REVOKED'
  | 'INVITE_EXHAUSTED'
  | 'INVITE_BAD_OPTIONS'
  | AdmitError['code']
  | 'BODY_TOO_LARGE'
  | 'BAD_REQUEST'
  | 'BAD_FEED_ID'
  | 'JOIN_UNKNOWN'
  | 'UNAUTHORIZED'
  | 'METHOD_NOT_ALLOWED'
  | 'NOT_FOUND'
  | 'INTERNAL'

/** The status each typed error is answered with. */
export const JOIN_API_STATUS: Readonly<Record<JoinApiErrorCode, number>> = {
  JOIN_MALFORMED: 400,
  JOIN_WRONG_NETWORK: 400,
  JOIN_STALE: 400,
  JOIN_BAD_SIGNATURE: 403,
  INVITE_UNKNOWN: 404,
  INVITE_EXPIRED: 410,
  INVITE_REVOKED: 410,
  INVITE_EXHAUSTED: 409,
  INVITE_BAD_OPTIONS: 400,
  ALREADY_MEMBER: 409,
  ADMIT_REFUSED: 403,
  ADMIT_UNAVAILABLE: 503,
  BODY_TOO_LARGE: 413,
  BAD_REQUEST: 400,
  BAD_FEED_ID: 400,
  JOIN_UNKNOWN: 404,
  UNAUTHORIZED: 401,
  METHOD_NOT_ALLOWED: 405,
  NOT_FOUND: 404,
  INTERNAL: 500,
}

/** POST /api/join's answer. */
export interface JoinResponse {
  status: 'pending'
  owner: FeedId
  item: Digest
}

/** An invite in admin answers: the book's view plus its link. */
export type InviteResponse = InviteView & { link?: string }

/** Body of POST /api/invites; every field optional (defaults: cap 64, expires 7d, no label). */
export interface CreateInviteBody {
  cap?: number
  /** A duration from now: `90s`, `30m`, `24h`, `7d`. */
  expires?: string
  /** An absolute expiry (ISO 8601); instead of `expires`. */
  expiresAt?: string
  label?: string
}

class Answer extends Error {
  constructor(
    readonly code: JoinApiErrorCode,
    message: string,
    readonly data: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  })
  res.end(text)
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest()

/** Constant-time: both sides are hashed first, so neither the length nor a prefix leaks. */
export function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected))
}

/** Reads at most `limit` bytes of body; undefined when it is larger (the rest is not read). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve(undefined)
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        cleanup()
        req.pause()
        resolve(undefined)
        return
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      resolve(Buffer.concat(chunks))
    }
    const onError = (e: Error) => {
      cleanup()
      reject(e)
    }
    const cleanup = () => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
  })
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

export function isJoinApiPath(pathname: string): boolean {
  return (
    pathname === '/api/join' ||
    pathname.startsWith('/api/join/') ||
    pathname === '/api/invites' ||
    pathname.startsWith('/api/invites/')
  )
}

export function createJoinApi(options: JoinApiOptions, deps: JoinApiDeps): JoinApi {
  const maxBody = options.maxBodyBytes ?? JOIN_MAX_BYTES
  /** One admit at a time per owner: a retry waits for the first and then asks again. */
  const admitting = new Map<FeedId, Promise<unknown>>()

  const allow = (req: IncomingMessage, methods: readonly string[], pathname: string) => {
    if (!methods.includes(req.method ?? ''))
      throw new Answer(
        'METHOD_NOT_ALLOWED',
        `${req.method} is not allowed on ${pathname}`,
        {},
        { Allow: methods.join(', ') },
      )
  }

  const body = async (req: IncomingMessage): Promise<string> => {
    const bytes = await readBody(req, maxBody)
    if (!bytes)
      throw new Answer(
        'BODY_TOO_LARGE',
        `the body is over ${maxBody} bytes`,
        { limit: maxBody },
        { Connection: 'close' },
      )
    try {
      return utf8.decode(bytes)
    } catch {
      throw new Answer('BAD_REQUEST', 'the body is not UTF-8')
    }
  }

  const json = async (req: IncomingMessage, code: 'JOIN_MALFORMED' | 'BAD_REQUEST'): Promise<unknown> => {
    const text = await body(req)
    try {
      return JSON.parse(text)
    } catch (e) {
      throw new Answer(
        code,
        `the body is not JSON: ${(e as Error).message}`,
        code === 'JOIN_MALFORMED' ? { field: '' } : {},
      )
    }
  }

  const refuse = (error: InviteBookError | AdmitError | JoinRequestError, message: string): never => {
    const { code, ...data } = error
    if (code in JOIN_API_STATUS) throw new Answer(code as JoinApiErrorCode, message, data)
    // The book's own failures (its file) are the relay's problem, not the client's.
    throw new Error(`invite book: ${message}`)
  }

  /** Takes a place on the invite, admits, and gives the place back when the admission fails. */
  const admitOnce = async (
    invite: InviteId,
    owner: FeedId,
    roles: JoinRoles,
  ): Promise<Result<Admission, InviteBookError | AdmitError>> => {
    const consumed = await deps.invites.consume(invite, owner)
    if (!consumed.ok) return consumed
    const giveBack = async () => {
      // Unless an earlier request of this owner took the place (and was admitted).
      if (consumed.value.reused) return
      const released = await deps.invites.release(invite, owner)
      if (!released.ok) log('giving back %s on invite %s failed: %o', owner, invite, released.error)
    }
    let result: Result<Admission, AdmitError>
    try {
      result = await deps.admit(owner, roles)
    } catch (e) {
      await giveBack()
      throw e
    }
    if (!result.ok) await giveBack()
    return result
  }

  const join = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    allow(req, ['POST'], '/api/join')
    const value = await json(req, 'JOIN_MALFORMED')
    const verified = await verifyJoinRequest(
      value,
      {
        network: options.network,
        now: deps.now().getTime(),
        ...(options.maxSkewMs !== undefined ? { maxSkewMs: options.maxSkewMs } : {}),
      },
      deps.ed25519,
    )
    if (!verified.ok) return refuse(verified.error, describeJoinRequestError(verified.error))
    const { owner, invite, roles } = verified.value
    // One join per owner at a time (invite place, admit, giving the place back), so a retry
    // arriving while the first request is admitted sees the outcome of the first.
    const previous = admitting.get(owner) ?? Promise.resolve()
    const attempt = previous.then(
      () => admitOnce(invite, owner, roles),
      () => admitOnce(invite, owner, roles),
    )
    admitting.set(owner, attempt)
    let result: Result<Admission, InviteBookError | AdmitError>
    try {
      result = await attempt
    } finally {
      if (admitting.get(owner) === attempt) admitting.delete(owner)
    }
    if (!result.ok)
      return refuse(
        result.error,
        isAdmitError(result.error) ? describeAdmitError(result.error) : describeInviteBookError(result.error),
      )
    log('join of %s with invite %s: member item %s', owner, invite, result.value.item)
    const answer: JoinResponse = { status: 'pending', owner, item: result.value.item }
    sendJson(res, 202, answer)
  }

  const status = async (req: IncomingMessage, res: ServerResponse, encoded: string): Promise<void> => {
    allow(req, ['GET', 'HEAD'], '/api/join/<owner>')
    let owner: string
    try {
      owner = decodeURIComponent(encoded)
    } catch {
      throw new Answer('BAD_FEED_ID', 'the owner id is not valid URL encoding')
    }
    if (!isFeedId(owner)) throw new Answer('BAD_FEED_ID', `not an owner id: ${owner.slice(0, 80)}`)
    const admission = await deps.admission(owner)
    if (!admission) throw new Answer('JOIN_UNKNOWN', `this relay has no join of ${owner}`, { owner })
    sendJson(res, 200, { owner, ...admission })
  }

  const authorize = (req: IncomingMessage) => {
    const header = req.headers.authorization ?? ''
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (!m || !tokenMatches(m[1]!, options.adminToken))
      throw new Answer(
        'UNAUTHORIZED',
        header === '' ? 'the admin token is required (Authorization: Bearer <token>)' : 'wrong admin token',
        {},
        { 'WWW-Authenticate': 'Bearer realm="blockfin-admin"' },
      )
  }

  const withLink = (req: IncomingMessage, invite: InviteView): InviteResponse => {
    const origin = options.origin ?? (req.headers.host ? `http://${req.headers.host}` : undefined)
    if (!origin) return invite
    try {
      return {
        ...invite,
        link: formatInviteLink({ relay: origin, invite: invite.id, network: options.network }),
      }
    } catch {
      return invite // a Host header that is no origin: no link
    }
  }

  const book = <T>(result: Result<T, InviteBookError>): T => {
    if (!result.ok) return refuse(result.error, describeInviteBookError(result.error))
    return result.value
  }

  const createOptions = (value: unknown) => {
    const bad = (field: string, reason: string) => new Answer('INVITE_BAD_OPTIONS', reason, { field })
    if (!isRecord(value)) throw bad('', 'the body is a JSON object {cap?, expires?, expiresAt?, label?}')
    for (const key of Object.keys(value))
      if (!['cap', 'expires', 'expiresAt', 'label'].includes(key))
        throw bad(key, `unexpected field ${key.slice(0, 40)}`)
    const { cap = DEFAULT_INVITE.cap, expires, expiresAt, label } = value as CreateInviteBody
    if (typeof cap !== 'number') throw bad('cap', 'cap is a number')
    if (label !== undefined && typeof label !== 'string') throw bad('label', 'label is a string')
    if (expires !== undefined && expiresAt !== undefined)
      throw bad('expires', 'give expires or expiresAt, not both')
    if (expiresAt !== undefined) {
      const at = typeof expiresAt === 'string' ? new Date(expiresAt) : new Date(Number.NaN)
      if (Number.isNaN(at.getTime())) throw bad('expiresAt', 'expiresAt is an ISO 8601 date')
      return { cap, expiresAt: at, ...(label !== undefined ? { label } : {}) }
    }
    const ttlMs =
      expires === undefined
        ? DEFAULT_INVITE.ttlMs
        : typeof expires === 'string'
          ? parseDuration(expires)
          : undefined
    if (ttlMs === undefined) throw bad('expires', 'expires is a duration such as 90s, 30m, 24h or 7d')
    return { cap, ttlMs, ...(label !== undefined ? { label } : {}) }
  }

  const invites = async (req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> => {
    if (rest === '') {
      authorize(req)
      allow(req, ['GET', 'HEAD', 'POST'], '/api/invites')
      if (req.method === 'POST') {
        const created = book(await deps.invites.create(createOptions(await json(req, 'BAD_REQUEST'))))
        log('admin created invite %s', created.id)
        return sendJson(res, 201, { invite: withLink(req, created) })
      }
      const list = book(await deps.invites.list())
      return sendJson(res, 200, { invites: list.map((i) => withLink(req, i)) })
    }
    const m = /^\/([^/]+)\/revoke$/.exec(rest)
    if (!m) throw new Answer('NOT_FOUND', `no API at /api/invites${rest.slice(0, 80)}`)
    authorize(req)
    allow(req, ['POST'], '/api/invites/<id>/revoke')
    let id: string
    try {
      id = decodeURIComponent(m[1]!)
    } catch {
      throw new Answer('INVITE_UNKNOWN', 'the invite id is not valid URL encoding', {
        id: m[1]!.slice(0, 64),
      })
    }
    const revoked = book(await deps.invites.revoke(id as InviteId))
    log('admin revoked invite %s', id)
    return sendJson(res, 200, { invite: withLink(req, revoked) })
  }

  const route = (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const p = url.pathname
    if (p === '/api/join') return join(req, res)
    if (p.startsWith('/api/join/')) return status(req, res, p.slice('/api/join/'.length))
    if (p === '/api/invites' || p.startsWith('/api/invites/'))
      return invites(req, res, p.slice('/api/invites'.length))
    throw new Answer('NOT_FOUND', `no API at ${p.slice(0, 80)}`)
  }

  return {
    handles: isJoinApiPath,
    handle: async (req, res, url) => {
      try {
        await route(req, res, url)
      } catch (e) {
        if (!(e instanceof Answer)) throw e
        if (res.headersSent) return
        sendJson(
          res,
          JOIN_API_STATUS[e.code],
          { error: { code: e.code, message: e.message, ...e.data } },
          e.headers,
        )
      }
    },
  }
}

const ADMIT_CODES: ReadonlySet<string> = new Set<AdmitError['code']>([
  'ALREADY_MEMBER',
  'ADMIT_UNAVAILABLE',
  'ADMIT_REFUSED',
])
const isAdmitError = (e: { code: string }): e is AdmitError => ADMIT_CODES.has(e.code)

/** One line for an admission refusal. */
export function describeAdmitError(error: AdmitError): string {
  switch (error.code) {
    case 'ALREADY_MEMBER':
      return `${error.owner} is a validator already`
    case 'ADMIT_UNAVAILABLE':
      return `this relay cannot admit validators now: ${error.reason}`
    case 'ADMIT_REFUSED':
      return `this relay does not admit this owner: ${error.reason}`
  }
}

export interface JoinSetup {
  readonly invites: InviteBook
  readonly adminToken: string
  /** The default invite to show at start-up (made on the first start, then reused while usable). */
  readonly defaultInvite: InviteView
  readonly createdDefaultInvite: boolean
}

/**
 * What the relay's start-up needs for the join API from its data directory: the invite book, the
 * admin token (created on first start) and the default invite. Then:
 * `createJoinApi({network: network.id, adminToken}, {invites, ed25519, now, admit, admission})`,
 * passed to startHttpServer as `join`, and `formatInviteLink({relay, invite: defaultInvite.id,
 * network: network.id})` for the banner.
 */
export async function openJoinSetup(
  options: { readonly dataDir: string },
  deps: InviteBookDeps,
): Promise<Result<JoinSetup, InviteBookError>> {
  const invites = await openInviteBook(options, deps)
  if (!invites.ok) return invites
  const token = await loadOrCreateAdminToken(options, deps)
  if (!token.ok) return token
  const made = await invites.value.ensureDefault()
  if (!made.ok) return made
  return ok({
    invites: invites.value,
    adminToken: token.value.token,
    defaultInvite: made.value.invite,
    createdDefaultInvite: made.value.created,
  })
}
