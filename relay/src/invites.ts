/**
 * The relay's invite book: capped, expiring, revocable multi-use invites, kept in `invites.json`
 * in the data directory (mode 0600, refused when group or others may access it; written whole to a
 * temp file, fsynced, then renamed over the old one).
 *
 * Every operation re-reads the file under an in-process lock, so the invite CLI may edit the file
 * while the relay runs (two processes writing in the same instant can still lose one change).
 *
 * File shape:
 * `{"type": "blockfin/invites", "version": 1, "invites": [{"id", "label", "cap", "createdAt",
 * "expiresAt", "revokedAt": null, "default": true, "uses": [{"owner": "@….ed25519", "at": "…"}]}]}`.
 */
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import createDebug from 'debug'
import { type FeedId, isFeedId } from '../../src/core/identity/ids'
import { type InviteId, isInviteId, newInviteId } from '../../src/core/invite/link'
import { err, ok, type Result } from '../../src/core/result'
import { checkPrivateMode, writePrivateFile } from './peer-key'

const log = createDebug('blockfin:relay:invites')

export const INVITES_FILE = 'invites.json'
/** The invite the relay makes on the first start of a network, so `npm start` always has a link. */
export const DEFAULT_INVITE = { cap: 64, ttlMs: 7 * 24 * 60 * 60 * 1000, label: 'default' } as const
/** Limits on what an admin may ask for. */
export const MAX_INVITE_CAP = 10_000
export const MAX_INVITE_TTL_MS = 365 * 24 * 60 * 60 * 1000
export const MAX_LABEL_LENGTH = 200

export interface InviteUse {
  readonly owner: FeedId
  readonly at: string
}

export interface InviteRecord {
  readonly id: InviteId
  readonly label: string
  /** The most distinct owners it admits. */
  readonly cap: number
  readonly createdAt: string
  readonly expiresAt: string
  readonly revokedAt: string | null
  /** Made by the relay itself (ensureDefault), not by an admin. */
  readonly default: boolean
  readonly uses: readonly InviteUse[]
}

export type InviteState = 'active' | 'expired' | 'revoked' | 'exhausted'

/** An invite as listed: the record, its state now and how many places are left. */
export interface InviteView extends InviteRecord {
  readonly state: InviteState
  readonly used: number
  readonly remaining: number
}

export interface InvitesFile {
  type: 'blockfin/invites'
  version: 1
  invites: InviteRecord[]
}

export type InviteRefusal =
  | { readonly code: 'INVITE_UNKNOWN'; readonly id: string }
  | { readonly code: 'INVITE_EXPIRED'; readonly id: InviteId; readonly expiresAt: string }
  | { readonly code: 'INVITE_REVOKED'; readonly id: InviteId; readonly revokedAt: string }
  | { readonly code: 'INVITE_EXHAUSTED'; readonly id: InviteId; readonly cap: number }

export type InviteBookError =
  | InviteRefusal
  | { readonly code: 'INVITE_BAD_OPTIONS'; readonly field: string; readonly reason: string }
  | { readonly code: 'INVITES_FILE_INVALID'; readonly path: string; readonly reason: string }
  | { readonly code: 'KEY_FILE_PERMISSIONS'; readonly path: string; readonly mode: string }
  | { readonly code: 'DATA_DIR_UNUSABLE'; readonly path: string; readonly reason: string }

export interface InviteBookDeps {
  readonly now: () => Date
  /** Cryptographic randomness (node:crypto randomBytes in production). */
  readonly randomBytes: (length: number) => Uint8Array
}

export interface CreateInviteOptions {
  /** The most distinct owners it admits (1 to MAX_INVITE_CAP). */
  readonly cap: number
  /** Either an absolute expiry or a time to live from now. */
  readonly expiresAt?: Date
  readonly ttlMs?: number
  readonly label?: string
}

export interface ConsumeResult {
  readonly invite: InviteView
  /** True when this owner had already used the invite: no place was taken. */
  readonly reused: boolean
}

export interface InviteBook {
  readonly path: string
  list(): Promise<Result<InviteView[], InviteBookError>>
  get(id: string): Promise<Result<InviteView, InviteBookError>>
  create(options: CreateInviteOptions): Promise<Result<InviteView, InviteBookError>>
  revoke(id: string): Promise<Result<InviteView, InviteBookError>>
  /**
   * Records `owner` as a user of invite `id`. An owner already recorded is not a second use
   * (`reused`), even when the invite is now full or expired; a revoked invite refuses everyone.
   */
  consume(id: string, owner: FeedId): Promise<Result<ConsumeResult, InviteBookError>>
  /** Takes back `owner`'s use of `id` (its admission failed); no-op when not recorded. */
  release(id: string, owner: FeedId): Promise<Result<void, InviteBookError>>
  /** Whether `owner` could use `id` now, without recording anything. */
  check(id: string, owner: FeedId): Promise<Result<ConsumeResult, InviteBookError>>
  /**
   * The newest usable invite the relay made itself, or a new one (DEFAULT_INVITE) when there is
   * none: on the first start of a network, and whenever the previous default expired, filled up
   * or was revoked.
   */
  ensureDefault(): Promise<Result<{ invite: InviteView; created: boolean }, InviteBookError>>
}

/** The state of an invite at `now`: revocation first, then expiry, then the cap. */
export function inviteState(invite: InviteRecord, now: Date): InviteState {
  if (invite.revokedAt !== null) return 'revoked'
  if (now.getTime() >= Date.parse(invite.expiresAt)) return 'expired'
  if (invite.uses.length >= invite.cap) return 'exhausted'
  return 'active'
}

export function viewInvite(invite: InviteRecord, now: Date): InviteView {
  return {
    ...invite,
    state: inviteState(invite, now),
    used: invite.uses.length,
    remaining: Math.max(0, invite.cap - invite.uses.length),
  }
}

/** Why `owner` may not use `invite` now, or undefined when it may (`reused` when already recorded). */
function refusal(invite: InviteRecord, owner: FeedId, now: Date): InviteRefusal | undefined {
  const state = inviteState(invite, now)
  if (state === 'revoked') return { code: 'INVITE_REVOKED', id: invite.id, revokedAt: invite.revokedAt! }
  if (invite.uses.some((u) => u.owner === owner)) return undefined
  if (state === 'expired') return { code: 'INVITE_EXPIRED', id: invite.id, expiresAt: invite.expiresAt }
  if (state === 'exhausted') return { code: 'INVITE_EXHAUSTED', id: invite.id, cap: invite.cap }
  return undefined
}

/** `90s`, `30m`, `24h`, `7d` (or a bare number of milliseconds) to milliseconds; undefined if not one. */
export function parseDuration(text: string): number | undefined {
  const m = /^([1-9][0-9]{0,9})(ms|s|m|h|d)?$/.exec(text.trim())
  if (!m) return undefined
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms']!
  return Number(m[1]) * unit
}

/** Opens the invite book of the data directory at `dataDir` (the file is created on first write). */
export async function openInviteBook(
  options: { readonly dataDir: string },
  deps: InviteBookDeps,
): Promise<Result<InviteBook, InviteBookError>> {
  const path = join(options.dataDir, INVITES_FILE)
  const first = await readInvitesFile(path)
  if (!first.ok) return first
  let queue: Promise<unknown> = Promise.resolve()
  /** Runs `f` on a fresh read of the file, one operation at a time; writes when `f` returns a new file. */
  const locked = <T>(
    f: (file: InvitesFile, now: Date) => Result<{ value: T; write?: InvitesFile }, InviteBookError>,
  ): Promise<Result<T, InviteBookError>> => {
    const run = async (): Promise<Result<T, InviteBookError>> => {
      const file = await readInvitesFile(path)
      if (!file.ok) return file
      const done = f(file.value, deps.now())
      if (!done.ok) return done
      if (done.value.write) {
        const written = await writePrivate(path, `${JSON.stringify(done.value.write, null, 2)}\n`)
        if (!written.ok) return written
      }
      return ok(done.value.value)
    }
    const result = queue.then(run, run)
    queue = result.catch(() => undefined)
    return result
  }
  const find = (file: InvitesFile, id: string): Result<InviteRecord, InviteBookError> => {
    const invite = file.invites.find((i) => i.id === id)
    return invite ? ok(invite) : err({ code: 'INVITE_UNKNOWN', id: id.slice(0, 64) })
  }
  const replace = (file: InvitesFile, invite: InviteRecord): InvitesFile => ({
    ...file,
    invites: file.invites.map((i) => (i.id === invite.id ? invite : i)),
  })
  const make = (
    options: CreateInviteOptions,
    isDefault: boolean,
    file: InvitesFile,
    now: Date,
  ): Result<{ value: InviteView; write: InvitesFile }, InviteBookError> => {
    const bad = (field: string, reason: string) => err({ code: 'INVITE_BAD_OPTIONS' as const, field, reason })
    if (!Number.isSafeInteger(options.cap) || options.cap < 1 || options.cap > MAX_INVITE_CAP)
      return bad('cap', `cap must be an integer from 1 to ${MAX_INVITE_CAP}`)
    const label = options.label ?? ''
    if (typeof label !== 'string' || label.length > MAX_LABEL_LENGTH)
      return bad('label', `label must be a string of at most ${MAX_LABEL_LENGTH} characters`)
    if ((options.expiresAt === undefined) === (options.ttlMs === undefined))
      return bad('expires', 'give either expiresAt or ttlMs')
    const expires =
      options.expiresAt !== undefined ? options.expiresAt.getTime() : now.getTime() + options.ttlMs!
    if (!Number.isFinite(expires) || expires <= now.getTime())
      return bad('expires', 'the expiry must be in the future')
    if (expires - now.getTime() > MAX_INVITE_TTL_MS)
      return bad('expires', 'the expiry is more than a year away')
    let id = newInviteId(deps.randomBytes)
    while (file.invites.some((i) => i.id === id)) id = newInviteId(deps.randomBytes)
    const invite: InviteRecord = {
      id,
      label,
      cap: options.cap,
      createdAt: now.toISOString(),
      expiresAt: new Date(expires).toISOString(),
      revokedAt: null,
      default: isDefault,
      uses: [],
    }
    log('created invite %s (%s, cap %d, expires %s)', id, label, invite.cap, invite.expiresAt)
    return ok({ value: viewInvite(invite, now), write: { ...file, invites: [...file.invites, invite] } })
  }

  const book: InviteBook = {
    path,
    list: () => locked((file, now) => ok({ value: file.invites.map((i) => viewInvite(i, now)) })),
    get: (id) =>
      locked((file, now) => {
        const invite = find(file, id)
        return invite.ok ? ok({ value: viewInvite(invite.value, now) }) : invite
      }),
    create: (options) => locked((file, now) => make(options, false, file, now)),
    revoke: (id) =>
      locked((file, now) => {
        const found = find(file, id)
        if (!found.ok) return found
        if (found.value.revokedAt !== null) return ok({ value: viewInvite(found.value, now) })
        const invite = { ...found.value, revokedAt: now.toISOString() }
        log('revoked invite %s', id)
        return ok({ value: viewInvite(invite, now), write: replace(file, invite) })
      }),
    check: (id, owner) =>
      locked((file, now) => {
        const found = find(file, id)
        if (!found.ok) return found
        const refused = refusal(found.value, owner, now)
        if (refused) return err(refused)
        const reused = found.value.uses.some((u) => u.owner === owner)
        return ok({ value: { invite: viewInvite(found.value, now), reused } })
      }),
    consume: (id, owner) =>
      locked<ConsumeResult>((file, now) => {
        if (!isFeedId(owner)) throw new TypeError('consume: owner is not a feed id')
        const found = find(file, id)
        if (!found.ok) return found
        const refused = refusal(found.value, owner, now)
        if (refused) return err(refused)
        if (found.value.uses.some((u) => u.owner === owner))
          return ok({ value: { invite: viewInvite(found.value, now), reused: true } })
        const invite = { ...found.value, uses: [...found.value.uses, { owner, at: now.toISOString() }] }
        log('invite %s used by %s (%d of %d)', id, owner, invite.uses.length, invite.cap)
        return ok({ value: { invite: viewInvite(invite, now), reused: false }, write: replace(file, invite) })
      }),
    release: (id, owner) =>
      locked((file) => {
        const found = find(file, id)
        if (!found.ok) return found
        if (!found.value.uses.some((u) => u.owner === owner)) return ok({ value: undefined })
        const invite = { ...found.value, uses: found.value.uses.filter((u) => u.owner !== owner) }
        log('invite %s: use by %s taken back', id, owner)
        return ok({ value: undefined, write: replace(file, invite) })
      }),
    ensureDefault: () =>
      locked<{ invite: InviteView; created: boolean }>((file, now) => {
        const usable = file.invites.filter((i) => i.default && inviteState(i, now) === 'active')
        const newest = usable[usable.length - 1]
        if (newest) return ok({ value: { invite: viewInvite(newest, now), created: false } })
        const made = make(
          { cap: DEFAULT_INVITE.cap, ttlMs: DEFAULT_INVITE.ttlMs, label: DEFAULT_INVITE.label },
          true,
          file,
          now,
        )
        if (!made.ok) return made
        return ok({ value: { invite: made.value.value, created: true }, write: made.value.write })
      }),
  }
  return ok(book)
}

/** Atomic 0600 write (peer-key.ts's), its only failure as an InviteBookError. */
async function writePrivate(path: string, text: string): Promise<Result<void, InviteBookError>> {
  const written = await writePrivateFile(path, text)
  if (written.ok) return written
  return err({
    code: 'DATA_DIR_UNUSABLE',
    path,
    reason: 'reason' in written.error ? written.error.reason : written.error.code,
  })
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

const isIsoDate = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v))

/** Reads and checks the file; a missing file is an empty book. */
async function readInvitesFile(path: string): Promise<Result<InvitesFile, InviteBookError>> {
  const empty: InvitesFile = { type: 'blockfin/invites', version: 1, invites: [] }
  try {
    const s = await stat(path)
    if (!s.isFile()) return err({ code: 'INVITES_FILE_INVALID', path, reason: 'not a regular file' })
    const private_ = checkPrivateMode(path, s.mode & 0o777)
    if (!private_.ok) return private_ as Result<never, InviteBookError>
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return ok(empty)
    return err({ code: 'DATA_DIR_UNUSABLE', path, reason: (e as Error).message })
  }
  let json: unknown
  try {
    json = JSON.parse(await readFile(path, 'utf8'))
  } catch (e) {
    return err({ code: 'INVITES_FILE_INVALID', path, reason: (e as Error).message })
  }
  return checkInvitesFile(json, path)
}

function checkInvitesFile(json: unknown, path: string): Result<InvitesFile, InviteBookError> {
  const invalid = (reason: string) => err({ code: 'INVITES_FILE_INVALID' as const, path, reason })
  if (!isRecord(json) || json.type !== 'blockfin/invites' || json.version !== 1)
    return invalid('not a blockfin/invites v1 file')
  if (!Array.isArray(json.invites)) return invalid('invites must be a list')
  const seen = new Set<string>()
  for (const [n, i] of json.invites.entries()) {
    const at = `invites[${n}]`
    if (!isRecord(i)) return invalid(`${at} is not an object`)
    if (!isInviteId(i.id)) return invalid(`${at}.id is not an invite id`)
    if (seen.has(i.id)) return invalid(`${at}.id repeats ${i.id}`)
    seen.add(i.id)
    if (typeof i.label !== 'string') return invalid(`${at}.label is not a string`)
    if (!Number.isSafeInteger(i.cap) || (i.cap as number) < 1)
      return invalid(`${at}.cap is not a positive integer`)
    if (!isIsoDate(i.createdAt) || !isIsoDate(i.expiresAt))
      return invalid(`${at} has a bad createdAt or expiresAt`)
    if (i.revokedAt !== null && !isIsoDate(i.revokedAt))
      return invalid(`${at}.revokedAt is not null or a date`)
    if (typeof i.default !== 'boolean') return invalid(`${at}.default is not a boolean`)
    if (!Array.isArray(i.uses)) return invalid(`${at}.uses is not a list`)
    for (const u of i.uses)
      if (!isRecord(u) || !isFeedId(u.owner) || !isIsoDate(u.at))
        return invalid(`${at}.uses holds something other than {owner, at}`)
  }
  return ok(json as unknown as InvitesFile)
}

/** One line a person can act on. */
export function describeInviteBookError(error: InviteBookError): string {
  switch (error.code) {
    case 'INVITE_UNKNOWN':
      return `no invite ${error.id} here`
    case 'INVITE_EXPIRED':
      return `invite ${error.id} expired at ${error.expiresAt}`
    case 'INVITE_REVOKED':
      return `invite ${error.id} was revoked at ${error.revokedAt}`
    case 'INVITE_EXHAUSTED':
      return `invite ${error.id} has admitted its ${error.cap} participants`
    case 'INVITE_BAD_OPTIONS':
      return `bad ${error.field}: ${error.reason}`
    case 'INVITES_FILE_INVALID':
      return `invite file ${error.path} is invalid: ${error.reason}`
    case 'KEY_FILE_PERMISSIONS':
      return `${error.path} has mode ${error.mode}: group or others may access it; chmod 600 ${error.path}`
    case 'DATA_DIR_UNUSABLE':
      return `${error.path} cannot be used: ${error.reason}`
  }
}

export const ADMIN_TOKEN_FILE = 'admin-token'
const ADMIN_TOKEN = /^[A-Za-z0-9_-]{32,256}$/

/**
 * The bearer token of the admin endpoints (GET/POST /api/invites): `admin-token` in the data
 * directory, mode 0600, 32 random bytes in base64url, created when missing. An admin may write
 * their own token there (32 to 256 base64url characters).
 */
export async function loadOrCreateAdminToken(
  options: { readonly dataDir: string },
  deps: Pick<InviteBookDeps, 'randomBytes'>,
): Promise<Result<{ token: string; path: string; created: boolean }, InviteBookError>> {
  const path = join(options.dataDir, ADMIN_TOKEN_FILE)
  try {
    const s = await stat(path)
    if (!s.isFile()) return err({ code: 'INVITES_FILE_INVALID', path, reason: 'not a regular file' })
    const private_ = checkPrivateMode(path, s.mode & 0o777)
    if (!private_.ok) return private_ as Result<never, InviteBookError>
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      return err({ code: 'DATA_DIR_UNUSABLE', path, reason: (e as Error).message })
    const bytes = deps.randomBytes(32)
    const token = Buffer.from(bytes).toString('base64url')
    const written = await writePrivate(path, `${token}\n`)
    if (!written.ok) return written
    log('created admin token file %s', path)
    return ok({ token, path, created: true })
  }
  let token: string
  try {
    token = (await readFile(path, 'utf8')).trim()
  } catch (e) {
    return err({ code: 'DATA_DIR_UNUSABLE', path, reason: (e as Error).message })
  }
  if (!ADMIN_TOKEN.test(token))
    return err({
      code: 'INVITES_FILE_INVALID',
      path,
      reason: 'the token must be 32 to 256 base64url characters',
    })
  return ok({ token, path, created: false })
}
