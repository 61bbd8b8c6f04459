import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { NetworkInfo } from '../../relay/src/data-dir'
import { createRequestHandler } from '../../relay/src/http'
import { type InviteBook, openInviteBook } from '../../relay/src/invites'
import {
  type Admission,
  type AdmissionStatus,
  type AdmitError,
  createJoinApi,
  type JoinApi,
  type JoinApiDeps,
  openJoinSetup,
  tokenMatches,
} from '../../relay/src/join-api'
import { type FeedId, type MessageId, messageIdFromHash } from '../../src/core/identity/ids'
import { type KeyPair, keyPairFromSeed } from '../../src/core/identity/keys'
import { createJoinRequest, encodeJoinRequest, type JoinRoles } from '../../src/core/invite/join-request'
import { type InviteId, newInviteId, parseInviteLink } from '../../src/core/invite/link'
import { type Digest, digestOfText } from '../../src/core/merkle'
import { err, ok, type Result } from '../../src/core/result'
import { createNodeBackend } from '../../src/crypto/node'

const ed25519 = createNodeBackend()
const network: MessageId = messageIdFromHash(new Uint8Array(32).fill(0xfb))
const otherNetwork: MessageId = messageIdFromHash(new Uint8Array(32).fill(1))
const TOKEN = 'test-admin-token-0123456789abcdefghijklmnop'
const HOUR = 3_600_000
const keys = (n: number): KeyPair => keyPairFromSeed(new Uint8Array(32).fill(n))

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: unknown
}

/** A plain node:http request, so the test controls headers and body exactly. */
function send(
  url: string,
  options: {
    method?: string
    body?: string | Buffer
    headers?: Record<string, string>
    chunked?: boolean
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text ? JSON.parse(text) : undefined,
          })
        })
      },
    )
    req.on('error', reject)
    if (options.body !== undefined) {
      if (!options.chunked) req.setHeader('Content-Length', Buffer.byteLength(options.body))
      req.write(options.body)
    }
    req.end()
  })
}

describe('join API', () => {
  let dir: string
  let clock: number
  let book: InviteBook
  let server: Server
  let base: string
  let admitCalls: { owner: FeedId; roles: JoinRoles }[]
  let admitAnswer: (owner: FeedId) => Promise<Result<Admission, AdmitError>>
  const admissions = new Map<FeedId, AdmissionStatus>()
  let invite: InviteId

  const itemOf = (owner: FeedId): Digest => digestOfText(`member add ${owner}`)
  const deps = (): JoinApiDeps => ({
    invites: book,
    ed25519,
    now: () => new Date(clock),
    admit: async (owner, roles) => {
      admitCalls.push({ owner, roles })
      return admitAnswer(owner)
    },
    admission: async (owner) => admissions.get(owner),
  })
  const serve = (api: JoinApi) =>
    createServer((req, res) => {
      api.handle(req, res, new URL(req.url ?? '/', 'http://relay')).catch((e: unknown) => {
        res.writeHead(500)
        res.end(JSON.stringify({ error: { code: 'INTERNAL', message: String(e) } }))
      })
    })
  const listen = async (s: Server) => {
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'blockfin-join-api-'))
    clock = Date.UTC(2026, 10, 21, 12)
    const opened = await openInviteBook(
      { dataDir: dir },
      { now: () => new Date(clock), randomBytes: (n) => new Uint8Array(randomBytes(n)) },
    )
    if (!opened.ok) throw new Error(opened.error.code)
    book = opened.value
    const made = await book.create({ cap: 2, ttlMs: HOUR, label: 'test' })
    if (!made.ok) throw new Error(made.error.code)
    invite = made.value.id
    admitCalls = []
    admissions.clear()
    admitAnswer = async (owner) => {
      const item = itemOf(owner)
      admissions.set(owner, { status: 'pending', item })
      return ok({ item })
    }
    server = serve(createJoinApi({ network, adminToken: TOKEN }, deps()))
    base = await listen(server)
  })
  afterEach(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await rm(dir, { recursive: true, force: true })
  })

  const requestFor = (
    owner: KeyPair,
    over: { invite?: InviteId; network?: MessageId; timestamp?: number } = {},
  ) =>
    createJoinRequest(
      {
        owner,
        network: over.network ?? network,
        invite: over.invite ?? invite,
        timestamp: over.timestamp ?? clock,
      },
      ed25519,
    )
  const post = async (body: unknown) =>
    send(`${base}/api/join`, {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' },
    })
  const used = async () => {
    const got = await book.get(invite)
    if (!got.ok) throw new Error(got.error.code)
    return got.value.uses.map((u) => u.owner)
  }
  const expectError = (reply: Reply, status: number, code: string, data: Record<string, unknown> = {}) => {
    expect(reply.status, JSON.stringify(reply.body)).toBe(status)
    expect(reply.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(reply.body).toMatchObject({ error: { code, message: expect.any(String), ...data } })
  }

  it('admits with a valid request: 202 pending, the invite used once, status by owner', async () => {
    const alice = keys(1)
    const request = await requestFor(alice)
    const reply = await post(encodeJoinRequest(request))
    expect(reply.status).toBe(202)
    expect(reply.body).toEqual({ status: 'pending', owner: alice.id, item: itemOf(alice.id) })
    expect(admitCalls).toEqual([{ owner: alice.id, roles: request.roles }])
    expect(await used()).toEqual([alice.id])

    const path = `${base}/api/join/${encodeURIComponent(alice.id)}`
    expect(await send(path)).toMatchObject({
      status: 200,
      body: { owner: alice.id, status: 'pending', item: itemOf(alice.id) },
    })
    admissions.set(alice.id, { status: 'admitted', item: itemOf(alice.id), height: 12, activeFrom: 14 })
    expect((await send(path)).body).toEqual({
      owner: alice.id,
      status: 'admitted',
      item: itemOf(alice.id),
      height: 12,
      activeFrom: 14,
    })
    admissions.set(alice.id, { status: 'failed', item: itemOf(alice.id), reason: 'BAD_NONCE' })
    expect((await send(path)).body).toMatchObject({ status: 'failed', reason: 'BAD_NONCE' })

    // A retry (even re-signed later) takes no second place; the admit calls for one owner never overlap.
    clock += 1000
    let running = 0
    let overlapped = false
    admitAnswer = async (owner) => {
      running++
      if (running > 1) overlapped = true
      await new Promise((r) => setTimeout(r, 20))
      running--
      return ok({ item: itemOf(owner) })
    }
    const again = await Promise.all([post(await requestFor(alice)), post(request)])
    expect(again.map((r) => r.status)).toEqual([202, 202])
    expect(overlapped).toBe(false)
    expect(await used()).toEqual([alice.id])
  })

  it('refuses bad requests with typed 4xx answers', async () => {
    const alice = keys(1)
    const request = await requestFor(alice)
    expectError(await post('{"type": "blockfin/join"'), 400, 'JOIN_MALFORMED', { field: '' })
    expectError(await post({ ...request, version: 2 }), 400, 'JOIN_MALFORMED', { field: 'version' })
    expectError(await post({ ...request, owner: 'alice' }), 400, 'JOIN_MALFORMED', { field: 'owner' })
    expectError(await post(await requestFor(alice, { network: otherNetwork })), 400, 'JOIN_WRONG_NETWORK', {
      expected: network,
      got: otherNetwork,
    })
    expectError(await post(await requestFor(alice, { timestamp: clock - 11 * 60_000 })), 400, 'JOIN_STALE', {
      now: clock,
      maxSkewMs: 600_000,
    })
    expectError(await post({ ...request, timestamp: clock + 1 }), 403, 'JOIN_BAD_SIGNATURE', {
      owner: alice.id,
    })
    const nonsense = newInviteId(() => new Uint8Array(16).fill(9))
    expectError(await post(await requestFor(alice, { invite: nonsense })), 404, 'INVITE_UNKNOWN', {
      id: nonsense,
    })
    expectError(
      await send(`${base}/api/join`, { method: 'POST', body: Buffer.from([0x7b, 0xff, 0x7d]) }),
      400,
      'BAD_REQUEST',
    )
    expect(admitCalls).toEqual([])
    expect(await used()).toEqual([])
  })

  it('enforces the invite: exhausted, expired, revoked', async () => {
    expect((await post(await requestFor(keys(1)))).status).toBe(202)
    expect((await post(await requestFor(keys(2)))).status).toBe(202)
    expectError(await post(await requestFor(keys(3))), 409, 'INVITE_EXHAUSTED', { id: invite, cap: 2 })
    expect((await post(await requestFor(keys(2)))).status).toBe(202) // a retry of a recorded owner

    const later = await book.create({ cap: 5, ttlMs: HOUR })
    if (!later.ok) throw new Error(later.error.code)
    clock += HOUR
    expectError(await post(await requestFor(keys(4), { invite: later.value.id })), 410, 'INVITE_EXPIRED', {
      expiresAt: later.value.expiresAt,
    })
    const fresh = await book.create({ cap: 5, ttlMs: HOUR })
    if (!fresh.ok) throw new Error(fresh.error.code)
    await book.revoke(fresh.value.id)
    expectError(await post(await requestFor(keys(4), { invite: fresh.value.id })), 410, 'INVITE_REVOKED', {
      revokedAt: new Date(clock).toISOString(),
    })
  })

  it('gives the place back when admission fails', async () => {
    const alice = keys(1)
    admitAnswer = async (owner) => err({ code: 'ALREADY_MEMBER', owner })
    expectError(await post(await requestFor(alice)), 409, 'ALREADY_MEMBER', { owner: alice.id })
    expect(await used()).toEqual([])
    admitAnswer = async () => err({ code: 'ADMIT_REFUSED', reason: 'removed for evidence' })
    expectError(await post(await requestFor(alice)), 403, 'ADMIT_REFUSED', { reason: 'removed for evidence' })
    admitAnswer = async () => err({ code: 'ADMIT_UNAVAILABLE', reason: 'no admin key' })
    expectError(await post(await requestFor(alice)), 503, 'ADMIT_UNAVAILABLE')
    admitAnswer = async () => {
      throw new Error('bug in admit')
    }
    expect((await post(await requestFor(alice))).status).toBe(500)
    expect(await used()).toEqual([])

    // A retry racing a failing first request: the retry takes the place the first gave back.
    let calls = 0
    admitAnswer = async (owner) => {
      calls++
      await new Promise((r) => setTimeout(r, 20))
      return calls === 1 ? err({ code: 'ADMIT_UNAVAILABLE', reason: 'busy' }) : ok({ item: itemOf(owner) })
    }
    const request = await requestFor(alice)
    const both = await Promise.all([post(request), post(request)])
    expect(both.map((r) => r.status)).toEqual([503, 202])
    expect(await used()).toEqual([alice.id])
  })

  it('refuses bodies over 8 KiB, declared or streamed', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(9000) })
    expectError(await send(`${base}/api/join`, { method: 'POST', body: big }), 413, 'BODY_TOO_LARGE', {
      limit: 8192,
    })
    expectError(
      await send(`${base}/api/join`, { method: 'POST', body: big, chunked: true }),
      413,
      'BODY_TOO_LARGE',
    )
    const admin = { Authorization: `Bearer ${TOKEN}` }
    expectError(
      await send(`${base}/api/invites`, { method: 'POST', body: big, headers: admin }),
      413,
      'BODY_TOO_LARGE',
    )
    // 8 KiB exactly is read (and then refused for what it is).
    const exact = JSON.stringify({ pad: 'x'.repeat(8192 - 10) })
    expect(Buffer.byteLength(exact)).toBe(8192)
    expectError(await post(exact), 400, 'JOIN_MALFORMED')
  })

  it('answers wrong methods and paths', async () => {
    const get = await send(`${base}/api/join`)
    expectError(get, 405, 'METHOD_NOT_ALLOWED')
    expect(get.headers.allow).toBe('POST')
    const del = await send(`${base}/api/join/${encodeURIComponent(keys(1).id)}`, { method: 'DELETE' })
    expectError(del, 405, 'METHOD_NOT_ALLOWED')
    expect(del.headers.allow).toBe('GET, HEAD')
    expectError(await send(`${base}/api/join/%ZZ`), 400, 'BAD_FEED_ID')
    expectError(await send(`${base}/api/join/alice`), 400, 'BAD_FEED_ID')
    expectError(await send(`${base}/api/join/${encodeURIComponent(keys(7).id)}`), 404, 'JOIN_UNKNOWN', {
      owner: keys(7).id,
    })
    const admin = { Authorization: `Bearer ${TOKEN}` }
    expectError(await send(`${base}/api/invites/x/y`, { headers: admin }), 404, 'NOT_FOUND')
    const put = await send(`${base}/api/invites`, { method: 'PUT', headers: admin })
    expectError(put, 405, 'METHOD_NOT_ALLOWED')
    expect(put.headers.allow).toBe('GET, HEAD, POST')
    expectError(
      await send(`${base}/api/invites/${invite}/revoke`, { headers: admin }),
      405,
      'METHOD_NOT_ALLOWED',
    )
  })

  it('lets only the admin token list, create and revoke invites', async () => {
    const endpoints: [string, string][] = [
      ['GET', '/api/invites'],
      ['POST', '/api/invites'],
      ['POST', `/api/invites/${invite}/revoke`],
    ]
    for (const [method, path] of endpoints) {
      const none = await send(`${base}${path}`, { method, body: '{}' })
      expectError(none, 401, 'UNAUTHORIZED')
      expect(none.headers['www-authenticate']).toMatch(/^Bearer/)
      for (const header of [
        `Bearer ${TOKEN}x`,
        `Bearer ${TOKEN.slice(1)}`,
        `Basic ${TOKEN}`,
        TOKEN,
        'Bearer ',
      ])
        expectError(
          await send(`${base}${path}`, { method, body: '{}', headers: { Authorization: header } }),
          401,
          'UNAUTHORIZED',
        )
    }
    expect(await book.get(invite)).toMatchObject({ ok: true, value: { state: 'active' } }) // not revoked
    expect(await book.list()).toMatchObject({ ok: true, value: [{ id: invite }] }) // nothing created

    const admin = { Authorization: `bearer ${TOKEN}` }
    const created = await send(`${base}/api/invites`, {
      method: 'POST',
      body: JSON.stringify({ cap: 10, expires: '24h', label: 'workshop' }),
      headers: admin,
    })
    expect(created.status).toBe(201)
    const made = (created.body as { invite: { id: InviteId; link: string } }).invite
    expect(made).toMatchObject({
      cap: 10,
      label: 'workshop',
      state: 'active',
      expiresAt: new Date(clock + 24 * HOUR).toISOString(),
    })
    // The link names this relay (from the Host header here) and the network, and no secret.
    expect(parseInviteLink(made.link, { expectedNetwork: network })).toEqual({
      ok: true,
      value: { relay: base, invite: made.id, network },
    })
    expect(made.link).not.toContain(TOKEN)

    const at = new Date(clock + 2 * HOUR).toISOString()
    const absolute = await send(`${base}/api/invites`, {
      method: 'POST',
      body: JSON.stringify({ expiresAt: at }),
      headers: admin,
    })
    expect(absolute.body).toMatchObject({ invite: { cap: 64, expiresAt: at, label: '' } })

    for (const [body, field] of [
      [{ cap: 0 }, 'cap'],
      [{ cap: '3' }, 'cap'],
      [{ expires: '2 weeks' }, 'expires'],
      [{ expires: '1h', expiresAt: at }, 'expires'],
      [{ expiresAt: 'tomorrow' }, 'expiresAt'],
      [{ label: 5 }, 'label'],
      [{ admin: true }, 'admin'],
      [[], ''],
    ] as const)
      expectError(
        await send(`${base}/api/invites`, { method: 'POST', body: JSON.stringify(body), headers: admin }),
        400,
        'INVITE_BAD_OPTIONS',
        { field },
      )
    expectError(
      await send(`${base}/api/invites`, { method: 'POST', body: 'cap=3', headers: admin }),
      400,
      'BAD_REQUEST',
    )

    const revoked = await send(`${base}/api/invites/${made.id}/revoke`, { method: 'POST', headers: admin })
    expect(revoked).toMatchObject({ status: 200, body: { invite: { id: made.id, state: 'revoked' } } })
    expectError(
      await send(`${base}/api/invites/AAAAAAAAAAAAAAAAAAAAAA/revoke`, { method: 'POST', headers: admin }),
      404,
      'INVITE_UNKNOWN',
    )
    const list = await send(`${base}/api/invites`, { headers: admin })
    expect(list.status).toBe(200)
    expect(
      (list.body as { invites: { id: string; state: string }[] }).invites.map((i) => [i.id, i.state]),
    ).toEqual([
      [invite, 'active'],
      [made.id, 'revoked'],
      [expect.any(String), 'active'],
    ])
  })

  it('compares tokens in constant time over their hashes', () => {
    expect(tokenMatches(TOKEN, TOKEN)).toBe(true)
    expect(tokenMatches(`${TOKEN}x`, TOKEN)).toBe(false)
    expect(tokenMatches('', TOKEN)).toBe(false)
  })

  it('is routed by the relay HTTP handler (http.ts join dependency), with the configured origin in links', async () => {
    const setup = await openJoinSetup(
      { dataDir: dir },
      { now: () => new Date(clock), randomBytes: (n) => new Uint8Array(randomBytes(n)) },
    )
    if (!setup.ok) throw new Error(setup.error.code)
    expect(setup.value.createdDefaultInvite).toBe(true)
    expect(setup.value.defaultInvite).toMatchObject({ default: true, cap: 64 })
    const info = {
      id: network,
      key: new Uint8Array(32),
      name: 'local',
      genesis: {},
    } as unknown as NetworkInfo
    const handler = createRequestHandler(
      { distDir: join(dir, 'no-dist') },
      {
        network: info,
        relay: { id: keys(9).id, roles: [] },
        feeds: { vectorClock: () => new Map() },
        startedAt: new Date(clock),
        join: createJoinApi(
          { network, adminToken: setup.value.adminToken, origin: 'https://demo.example.org' },
          { ...deps(), invites: setup.value.invites },
        ),
      },
    )
    const relay = createServer(handler)
    const url = await listen(relay)
    try {
      const alice = keys(1)
      const joined = await send(`${url}/api/join`, {
        method: 'POST',
        body: encodeJoinRequest(await requestFor(alice, { invite: setup.value.defaultInvite.id })),
      })
      expect(joined.status).toBe(202)
      expect((await send(`${url}/api/join/${encodeURIComponent(alice.id)}`)).status).toBe(200)
      const list = await send(`${url}/api/invites`, {
        headers: { Authorization: `Bearer ${setup.value.adminToken}` },
      })
      const links = (list.body as { invites: { link: string }[] }).invites.map((i) => i.link)
      expect(links.every((l) => l.startsWith('https://demo.example.org/?join='))).toBe(true)
      expectError(await send(`${url}/api/invites`), 401, 'UNAUTHORIZED')
      expect((await send(`${url}/api/network`)).status).toBe(200) // the rest of the API is untouched
      expect((await send(`${url}/api/feeds`, { method: 'POST' })).status).toBe(405)
    } finally {
      relay.closeAllConnections()
      await new Promise<void>((resolve) => relay.close(() => resolve()))
    }
  })
})
