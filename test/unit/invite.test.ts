import { describe, expect, it } from 'vitest'
import { encodeCanonical } from '../../src/core/feed/message'
import { type MessageId, messageIdFromHash } from '../../src/core/identity/ids'
import { keyPairFromSeed } from '../../src/core/identity/keys'
import { deriveRoleKeys, VALIDATOR_ROLES } from '../../src/core/identity/roles'
import {
  createJoinRequest,
  decodeJoinRequest,
  encodeJoinRequest,
  JOIN_MAX_SKEW_MS,
  type JoinRequest,
  parseJoinRequest,
  validatorRoleIds,
  verifyJoinRequest,
} from '../../src/core/invite/join-request'
import {
  formatInviteLink,
  type InviteId,
  inviteIdBytes,
  isInviteId,
  newInviteId,
  parseInvite,
  parseInviteLink,
  relayOrigin,
} from '../../src/core/invite/link'
import { createNodeBackend } from '../../src/crypto/node'

const ed25519 = createNodeBackend()
const bytes =
  (fill: number, length = 16) =>
  () =>
    new Uint8Array(length).fill(fill)
const network: MessageId = messageIdFromHash(new Uint8Array(32).fill(0xfb)) // "%+/v7…=.sha256": has + and / and =
const other: MessageId = messageIdFromHash(new Uint8Array(32).fill(9))
const invite = newInviteId(bytes(0xfb))

describe('invite ids', () => {
  it('are 16 bytes in unpadded base64url, randomness pushed in', () => {
    expect(invite).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(invite).toContain('-') // 0xfb bytes use the url-safe characters
    expect(inviteIdBytes(invite)).toEqual(new Uint8Array(16).fill(0xfb))
    expect(() => newInviteId(bytes(1, 15))).toThrow(RangeError)
    let n = 0
    const counter = (length: number) => Uint8Array.from({ length }, () => n++)
    expect(newInviteId(counter)).not.toBe(newInviteId(counter))
  })

  it('refuse non-canonical spellings', () => {
    expect(isInviteId(invite)).toBe(true)
    expect(isInviteId(`${invite}=`)).toBe(false) // padded
    expect(isInviteId(invite.slice(1))).toBe(false) // short
    expect(isInviteId(`${invite.slice(0, 21)}B`)).toBe(false) // trailing bits set
    expect(isInviteId(invite.replace(/-/g, '+'))).toBe(false) // plain base64 alphabet
    expect(isInviteId(42)).toBe(false)
  })
})

describe('invite links', () => {
  const link = formatInviteLink({ relay: 'http://localhost:8080', invite, network })

  it('format as <origin>/?join=<id>&network=<url-encoded id> and parse back', () => {
    expect(link).toBe(`http://localhost:8080/?join=${invite}&network=${encodeURIComponent(network)}`)
    expect(link).not.toMatch(/network=%(?!25)/) // the % of the id is encoded
    expect(parseInviteLink(link)).toEqual({
      ok: true,
      value: { relay: 'http://localhost:8080', invite, network },
    })
    expect(parseInviteLink(`  ${link}\n`, { expectedNetwork: network }).ok).toBe(true)
    const https = formatInviteLink({ relay: 'https://demo.example.org/', invite, network })
    expect(https.startsWith('https://demo.example.org/?join=')).toBe(true)
    expect(parseInviteLink(https).ok && parseInviteLink(https)).toMatchObject({
      value: { relay: 'https://demo.example.org' },
    })
  })

  it('refuse a link for another network with the expected and the actual id', () => {
    expect(parseInviteLink(link, { expectedNetwork: other })).toEqual({
      ok: false,
      error: { code: 'INVITE_WRONG_NETWORK', expected: other, got: network },
    })
  })

  const enc = encodeURIComponent(network)
  const malformed: [string, string, RegExp][] = [
    ['empty', '', /not a URL/],
    ['not a URL', 'join me please', /not a URL/],
    ['wrong scheme', `ftp://localhost/?join=${invite}&network=${enc}`, /http or https/],
    ['javascript scheme', `javascript:alert(1)//?join=${invite}`, /http or https/],
    ['ws scheme', `ws://localhost:8080/?join=${invite}&network=${enc}`, /http or https/],
    ['missing join', `http://localhost:8080/?network=${enc}`, /join parameter is missing/],
    ['missing network', `http://localhost:8080/?join=${invite}`, /network parameter is missing/],
    ['no query', 'http://localhost:8080/', /join parameter is missing/],
    ['repeated join', `http://localhost:8080/?join=${invite}&join=${invite}&network=${enc}`, /repeated/],
    ['bad base64url (padding)', `http://localhost:8080/?join=${invite}%3D%3D&network=${enc}`, /invite id/],
    ['bad base64url (alphabet)', `http://localhost:8080/?join=${'*'.repeat(22)}&network=${enc}`, /invite id/],
    ['bad base64url (short)', `http://localhost:8080/?join=abc&network=${enc}`, /invite id/],
    ['network not encoded', `http://localhost:8080/?join=${invite}&network=${network}`, /network id/],
    ['network not an id', `http://localhost:8080/?join=${invite}&network=local`, /network id/],
    ['extra parameter', `${link}&admin=1`, /unexpected parameter/],
    ['extra path', `http://localhost:8080/app?join=${invite}&network=${enc}`, /path/],
    ['fragment junk', `${link}#junk`, /fragment/],
    ['credentials', `http://user:pw@localhost:8080/?join=${invite}&network=${enc}`, /credentials/],
    ['trailing junk on the network', `${link}xyz`, /network id/],
    ['too long', `${link}&x=${'a'.repeat(3000)}`, /too long/],
  ]
  it.each(malformed)('refuse %s as INVITE_MALFORMED', (_name, text, reason) => {
    const parsed = parseInviteLink(text)
    expect(parsed.ok).toBe(false)
    if (parsed.ok) return
    expect(parsed.error.code).toBe('INVITE_MALFORMED')
    expect(parsed.error.code === 'INVITE_MALFORMED' && parsed.error.reason).toMatch(reason)
  })

  it('accept a bare invite id with the relay URL (the CLI form)', () => {
    expect(parseInvite(invite, { relay: 'http://127.0.0.1:9090/' })).toEqual({
      ok: true,
      value: { relay: 'http://127.0.0.1:9090', invite },
    })
    expect(parseInvite(link, { expectedNetwork: network })).toMatchObject({ ok: true, value: { network } })
    expect(parseInvite(link, { expectedNetwork: other })).toMatchObject({
      ok: false,
      error: { code: 'INVITE_WRONG_NETWORK' },
    })
    expect(parseInvite(invite)).toMatchObject({ ok: false, error: { reason: /needs the relay URL/ } })
    expect(parseInvite('nonsense', { relay: 'http://x' })).toMatchObject({
      ok: false,
      error: { code: 'INVITE_MALFORMED' },
    })
    expect(parseInvite(invite, { relay: 'ftp://x' })).toMatchObject({ ok: false, error: { reason: /http/ } })
    expect(parseInvite(invite, { relay: 'http://x/sub' })).toMatchObject({
      ok: false,
      error: { reason: /path/ },
    })
  })

  it('format only from valid parts', () => {
    expect(relayOrigin('http://localhost:8080')).toEqual({ ok: true, value: 'http://localhost:8080' })
    expect(() => formatInviteLink({ relay: 'localhost:8080', invite, network })).toThrow(RangeError)
    expect(() => formatInviteLink({ relay: 'http://x', invite: 'nope' as InviteId, network })).toThrow(
      RangeError,
    )
    expect(() => formatInviteLink({ relay: 'http://x', invite, network: 'x' as MessageId })).toThrow(
      RangeError,
    )
  })
})

describe('join requests', () => {
  const owner = keyPairFromSeed(new Uint8Array(32).fill(3))
  const now = Date.UTC(2026, 10, 21, 12, 0, 0)
  const ctx = { network, now }
  const make = (timestamp = now) => createJoinRequest({ owner, network, invite, timestamp }, ed25519)

  it('are signed by the owner over the canonical text and verify', async () => {
    const request = await make()
    expect(Object.keys(request)).toEqual([
      'type',
      'version',
      'network',
      'invite',
      'owner',
      'roles',
      'timestamp',
      'signature',
    ])
    expect(request).toMatchObject({ type: 'blockfin/join', version: 1, network, invite, owner: owner.id })
    expect(Object.keys(request.roles)).toEqual([...VALIDATOR_ROLES])
    for (const role of VALIDATOR_ROLES) expect(request.roles[role]).toBe(deriveRoleKeys(owner, role).id)
    expect(await verifyJoinRequest(request, ctx, ed25519)).toEqual({ ok: true, value: request })
    // Through its JSON text, and with the sender's key order shuffled: the canonical text is rebuilt.
    const text = encodeJoinRequest(request)
    expect(text).toBe(encodeCanonical(request))
    expect(parseJoinRequest(text)).toEqual({ ok: true, value: request })
    const shuffled = Object.fromEntries(Object.entries(JSON.parse(text)).reverse())
    expect((await verifyJoinRequest(shuffled, ctx, ed25519)).ok).toBe(true)
  })

  it('refuse tampered fields with JOIN_BAD_SIGNATURE', async () => {
    const request = await make()
    const stranger = keyPairFromSeed(new Uint8Array(32).fill(4))
    const tampered: [string, JoinRequest][] = [
      ['invite', { ...request, invite: newInviteId(bytes(1)) }],
      ['owner', { ...request, owner: stranger.id }],
      ['a role', { ...request, roles: { ...request.roles, sealer: stranger.id } }],
      [
        'roles swapped',
        {
          ...request,
          roles: { ...request.roles, sealer: request.roles.committer, committer: request.roles.sealer },
        },
      ],
      ['timestamp', { ...request, timestamp: request.timestamp + 1 }],
      [
        'signature',
        {
          ...request,
          signature: (await createJoinRequest({ owner: stranger, network, invite, timestamp: now }, ed25519))
            .signature,
        },
      ],
    ]
    for (const [name, value] of tampered) {
      const verified = await verifyJoinRequest(value, ctx, ed25519)
      expect(verified.ok ? 'ok' : verified.error.code, name).toBe('JOIN_BAD_SIGNATURE')
    }
    // The network is a signed field too, but a request for another network is refused before that.
    expect(await verifyJoinRequest({ ...request, network: other }, ctx, ed25519)).toEqual({
      ok: false,
      error: { code: 'JOIN_WRONG_NETWORK', expected: network, got: other },
    })
    expect(
      await verifyJoinRequest({ ...request, network: other }, { ...ctx, network: other }, ed25519),
    ).toMatchObject({
      ok: false,
      error: { code: 'JOIN_BAD_SIGNATURE', owner: owner.id },
    })
  })

  it('refuse a timestamp outside ±10 minutes of now as JOIN_STALE', async () => {
    expect((await verifyJoinRequest(await make(now - JOIN_MAX_SKEW_MS), ctx, ed25519)).ok).toBe(true)
    expect((await verifyJoinRequest(await make(now + JOIN_MAX_SKEW_MS), ctx, ed25519)).ok).toBe(true)
    expect(await verifyJoinRequest(await make(now - JOIN_MAX_SKEW_MS - 1), ctx, ed25519)).toEqual({
      ok: false,
      error: { code: 'JOIN_STALE', timestamp: now - JOIN_MAX_SKEW_MS - 1, now, maxSkewMs: JOIN_MAX_SKEW_MS },
    })
    expect(await verifyJoinRequest(await make(now + JOIN_MAX_SKEW_MS + 1), ctx, ed25519)).toMatchObject({
      ok: false,
      error: { code: 'JOIN_STALE' },
    })
    expect(
      await verifyJoinRequest(await make(now - 2000), { ...ctx, maxSkewMs: 1000 }, ed25519),
    ).toMatchObject({
      ok: false,
      error: { code: 'JOIN_STALE', maxSkewMs: 1000 },
    })
  })

  it('refuse malformed requests with JOIN_MALFORMED naming the field', async () => {
    const request = await make()
    const { roles } = request
    const cases: [unknown, string][] = [
      [null, ''],
      [[request], ''],
      [{ ...request, type: 'blockfin/jion' }, 'type'],
      [{ ...request, version: 2 }, 'version'],
      [{ ...request, extra: 1 }, 'extra'],
      [{ ...request, network: undefined }, 'network'],
      [{ ...request, network: 'local' }, 'network'],
      [{ ...request, invite: 'abc' }, 'invite'],
      [{ ...request, owner: '@nope.ed25519' }, 'owner'],
      [{ ...request, roles: [] }, 'roles'],
      [{ ...request, roles: { ...roles, messagenode: owner.id } }, 'roles'],
      [{ ...request, roles: { ...roles, sealer: undefined } }, 'roles'],
      [{ ...request, roles: { ...roles, sealer: roles.committer } }, 'roles'],
      [{ ...request, roles: { ...roles, sealer: owner.id } }, 'roles'],
      [{ ...request, timestamp: '1' }, 'timestamp'],
      [{ ...request, timestamp: 1.5 }, 'timestamp'],
      [{ ...request, signature: 'sig' }, 'signature'],
    ]
    for (const [value, field] of cases) {
      const decoded = decodeJoinRequest(value)
      expect(decoded.ok, JSON.stringify(field)).toBe(false)
      if (!decoded.ok) expect(decoded.error).toMatchObject({ code: 'JOIN_MALFORMED', field })
    }
    expect(parseJoinRequest('{"type":')).toMatchObject({
      ok: false,
      error: { code: 'JOIN_MALFORMED', field: '' },
    })
    expect(parseJoinRequest('{"__proto__": {"type": "blockfin/join"}}')).toMatchObject({
      ok: false,
      error: { code: 'JOIN_MALFORMED' },
    })
  })

  it('refuse to build a request from bad parts', async () => {
    await expect(
      createJoinRequest(
        { owner, network, invite, timestamp: now, roles: { ...validatorRoleIds(owner), sealer: owner.id } },
        ed25519,
      ),
    ).rejects.toThrow(RangeError)
  })
})
