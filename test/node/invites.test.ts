import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  DEFAULT_INVITE,
  type InviteBook,
  loadOrCreateAdminToken,
  openInviteBook,
  parseDuration,
} from '../../relay/src/invites'
import { type FeedId, feedIdFromPublicKey } from '../../src/core/identity/ids'

const owner = (n: number): FeedId => feedIdFromPublicKey(new Uint8Array(32).fill(n))
const HOUR = 3_600_000

describe('invite book', () => {
  let dir: string
  let clock: number
  const deps = {
    now: () => new Date(clock),
    randomBytes: (n: number) => new Uint8Array(randomBytes(n)),
  }
  const open = async (): Promise<InviteBook> => {
    const book = await openInviteBook({ dataDir: dir }, deps)
    if (!book.ok) throw new Error(book.error.code)
    return book.value
  }
  const value = <T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T => {
    if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.error)}`)
    return r.value
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'blockfin-invites-'))
    clock = Date.UTC(2026, 10, 21, 12)
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('persists invites and their uses across reopen, in a 0600 file written atomically', async () => {
    const book = await open()
    expect(value(await book.list())).toEqual([])
    const made = value(await book.create({ cap: 3, ttlMs: 24 * HOUR, label: 'workshop' }))
    expect(made).toMatchObject({
      label: 'workshop',
      cap: 3,
      createdAt: new Date(clock).toISOString(),
      expiresAt: new Date(clock + 24 * HOUR).toISOString(),
      revokedAt: null,
      default: false,
      uses: [],
      state: 'active',
      used: 0,
      remaining: 3,
    })
    expect(value(await book.consume(made.id, owner(1)))).toMatchObject({ reused: false, invite: { used: 1 } })
    const file = join(dir, 'invites.json')
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect(await readdir(dir)).toEqual(['invites.json']) // no temp file left behind
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ type: 'blockfin/invites', version: 1 })

    const again = await open()
    expect(value(await again.get(made.id))).toMatchObject({
      uses: [{ owner: owner(1), at: new Date(clock).toISOString() }],
      remaining: 2,
    })
  })

  it('admits up to cap distinct owners; the same owner again is not a second use', async () => {
    const book = await open()
    const { id } = value(await book.create({ cap: 2, ttlMs: HOUR }))
    expect(value(await book.consume(id, owner(1))).reused).toBe(false)
    expect(value(await book.consume(id, owner(1))).reused).toBe(true)
    expect(value(await book.consume(id, owner(2))).invite).toMatchObject({ used: 2, state: 'exhausted' })
    expect(await book.consume(id, owner(3))).toEqual({
      ok: false,
      error: { code: 'INVITE_EXHAUSTED', id, cap: 2 },
    })
    // A recorded owner retrying a full invite is still fine, and takes no place.
    expect(value(await book.consume(id, owner(2)))).toMatchObject({ reused: true, invite: { used: 2 } })
    expect(value(await book.check(id, owner(1))).reused).toBe(true)
    expect(await book.check(id, owner(3))).toMatchObject({ ok: false, error: { code: 'INVITE_EXHAUSTED' } })
    // A failed admission gives its place back.
    value(await book.release(id, owner(2)))
    value(await book.release(id, owner(9))) // not recorded: nothing to do
    expect(value(await book.consume(id, owner(3))).invite.uses.map((u) => u.owner)).toEqual([
      owner(1),
      owner(3),
    ])
  })

  it('serializes concurrent uses so the cap holds', async () => {
    const book = await open()
    const { id } = value(await book.create({ cap: 5, ttlMs: HOUR }))
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => book.consume(id, owner(i + 1))))
    expect(results.filter((r) => r.ok)).toHaveLength(5)
    expect(results.filter((r) => !r.ok && r.error.code === 'INVITE_EXHAUSTED')).toHaveLength(7)
    expect(value(await (await open()).get(id)).used).toBe(5)
  })

  it('refuses an expired invite to newcomers', async () => {
    const book = await open()
    const { id, expiresAt } = value(await book.create({ cap: 5, expiresAt: new Date(clock + HOUR) }))
    value(await book.consume(id, owner(1)))
    clock += HOUR - 1
    value(await book.consume(id, owner(2)))
    clock += 1
    expect(await book.consume(id, owner(3))).toEqual({
      ok: false,
      error: { code: 'INVITE_EXPIRED', id, expiresAt },
    })
    expect(value(await book.consume(id, owner(1))).reused).toBe(true)
    expect(value(await book.get(id)).state).toBe('expired')
  })

  it('refuses a revoked invite to everyone; revoking twice keeps the first time', async () => {
    const book = await open()
    const { id } = value(await book.create({ cap: 5, ttlMs: HOUR }))
    value(await book.consume(id, owner(1)))
    const revokedAt = new Date(clock).toISOString()
    expect(value(await book.revoke(id))).toMatchObject({ state: 'revoked', revokedAt })
    clock += 1000
    expect(value(await book.revoke(id)).revokedAt).toBe(revokedAt)
    for (const o of [owner(1), owner(2)])
      expect(await book.consume(id, o)).toEqual({
        ok: false,
        error: { code: 'INVITE_REVOKED', id, revokedAt },
      })
    expect(value(await (await open()).get(id)).state).toBe('revoked')
  })

  it('names unknown invites and bad options', async () => {
    const book = await open()
    const unknown = 'AAAAAAAAAAAAAAAAAAAAAA'
    expect(await book.consume(unknown, owner(1))).toEqual({
      ok: false,
      error: { code: 'INVITE_UNKNOWN', id: unknown },
    })
    expect(await book.revoke(unknown)).toMatchObject({ ok: false, error: { code: 'INVITE_UNKNOWN' } })
    expect(await book.get('x')).toMatchObject({ ok: false, error: { code: 'INVITE_UNKNOWN' } })
    const bad = [
      [{ cap: 0, ttlMs: HOUR }, 'cap'],
      [{ cap: 1.5, ttlMs: HOUR }, 'cap'],
      [{ cap: 100_000, ttlMs: HOUR }, 'cap'],
      [{ cap: 1 }, 'expires'],
      [{ cap: 1, ttlMs: HOUR, expiresAt: new Date(clock + HOUR) }, 'expires'],
      [{ cap: 1, ttlMs: -1 }, 'expires'],
      [{ cap: 1, expiresAt: new Date(clock) }, 'expires'],
      [{ cap: 1, expiresAt: new Date('nope') }, 'expires'],
      [{ cap: 1, ttlMs: 400 * 24 * HOUR }, 'expires'],
      [{ cap: 1, ttlMs: HOUR, label: 'x'.repeat(201) }, 'label'],
    ] as const
    for (const [options, field] of bad)
      expect(await book.create(options), field).toMatchObject({
        ok: false,
        error: { code: 'INVITE_BAD_OPTIONS', field },
      })
    expect(value(await book.list())).toEqual([])
  })

  it('makes a default invite on first start and reuses it until it is no longer usable', async () => {
    const first = value(await (await open()).ensureDefault())
    expect(first.created).toBe(true)
    expect(first.invite).toMatchObject({
      default: true,
      cap: DEFAULT_INVITE.cap,
      label: 'default',
      expiresAt: new Date(clock + 7 * 24 * HOUR).toISOString(),
    })
    clock += 24 * HOUR // a restart a day later
    const again = value(await (await open()).ensureDefault())
    expect(again).toEqual({ created: false, invite: { ...first.invite } })
    // An admin's invite is never taken for the default.
    const book = await open()
    value(await book.create({ cap: 2, ttlMs: 30 * 24 * HOUR }))
    value(await book.revoke(first.invite.id))
    const replaced = value(await book.ensureDefault())
    expect(replaced.created).toBe(true)
    expect(replaced.invite.id).not.toBe(first.invite.id)
    clock += 8 * 24 * HOUR // expired
    expect(value(await book.ensureDefault()).invite.id).not.toBe(replaced.invite.id)
    expect(value(await book.list())).toHaveLength(4)
  })

  it('sees edits another process made to the file (the CLI while the relay runs)', async () => {
    const relay = await open()
    const cli = await open()
    const { id } = value(await cli.create({ cap: 1, ttlMs: HOUR }))
    value(await relay.consume(id, owner(1)))
    expect(value(await cli.get(id)).used).toBe(1)
  })

  it('refuses a file others may read, and a broken file', async () => {
    const book = await open()
    value(await book.create({ cap: 1, ttlMs: HOUR }))
    const file = join(dir, 'invites.json')
    await chmod(file, 0o644)
    expect(await openInviteBook({ dataDir: dir }, deps)).toEqual({
      ok: false,
      error: { code: 'KEY_FILE_PERMISSIONS', path: file, mode: '0644' },
    })
    expect(await book.list()).toMatchObject({ ok: false, error: { code: 'KEY_FILE_PERMISSIONS' } })
    await writeFile(file, '{"type": "blockfin/invites", "version": 1, "invites": [{"id": "x"}]}', {
      mode: 0o600,
    })
    await chmod(file, 0o600)
    expect(await openInviteBook({ dataDir: dir }, deps)).toMatchObject({
      ok: false,
      error: { code: 'INVITES_FILE_INVALID', reason: /invite id/ },
    })
    await writeFile(file, 'not json')
    expect(await book.list()).toMatchObject({ ok: false, error: { code: 'INVITES_FILE_INVALID' } })
  })

  it('keeps an admin token in a 0600 file, created once', async () => {
    const first = value(await loadOrCreateAdminToken({ dataDir: dir }, deps))
    expect(first.created).toBe(true)
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect((await stat(first.path)).mode & 0o777).toBe(0o600)
    expect(value(await loadOrCreateAdminToken({ dataDir: dir }, deps))).toEqual({ ...first, created: false })
    await chmod(first.path, 0o640)
    expect(await loadOrCreateAdminToken({ dataDir: dir }, deps)).toMatchObject({
      ok: false,
      error: { code: 'KEY_FILE_PERMISSIONS', mode: '0640' },
    })
    await chmod(first.path, 0o600)
    await writeFile(first.path, 'short\n')
    expect(await loadOrCreateAdminToken({ dataDir: dir }, deps)).toMatchObject({
      ok: false,
      error: { code: 'INVITES_FILE_INVALID' },
    })
  })

  it('parses durations', () => {
    expect(parseDuration('90s')).toBe(90_000)
    expect(parseDuration('30m')).toBe(30 * 60_000)
    expect(parseDuration('24h')).toBe(24 * HOUR)
    expect(parseDuration('7d')).toBe(7 * 24 * HOUR)
    expect(parseDuration('1500')).toBe(1500)
    for (const bad of ['', '0h', '-1h', '1.5h', '1w', 'h', '01h'])
      expect(parseDuration(bad), bad).toBeUndefined()
  })
})
