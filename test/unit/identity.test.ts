import { createRequire } from 'node:module'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeMessage } from '../../src/core/feed/decode'
import { createMessage } from '../../src/core/feed/message'
import { feedIdFromPublicKey, isFeedId } from '../../src/core/identity/ids'
import { exportKeys, importKeys, importKeysText, keyPairFromSeed } from '../../src/core/identity/keys'
import {
  checkRoleCertificate,
  deriveRoleKeys,
  exportRoleKeys,
  isRole,
  MESSAGENODE_ROLES,
  type Role,
  roleCertificateContent,
  VALIDATOR_ROLES,
} from '../../src/core/identity/roles'
import { createNodeBackend } from '../../src/crypto/node'

const require = createRequire(import.meta.url)
const ssbKeys = require('ssb-keys') as {
  generate(curve: string, seed: Buffer): { curve: string; public: string; private: string; id: string }
}

const seedOf = (byte: number) => new Uint8Array(32).fill(byte)
const ALL_ROLES: readonly Role[] = [...VALIDATOR_ROLES, ...MESSAGENODE_ROLES]

/** Seed 001, listing 1, verbatim. */
const LISTING_1 = {
  curve: 'ed25519',
  public: 's9+ZsrSDXz7WdQ6ED7Ry3+tN8tTzl3J0DEIuTn/tXrU=.ed25519',
  private: 'baTNPZd9Ta47Tp+a0gTpje3SK4iJ/yebaVrWH0749eiz35mytINfPtZ1DoQPtHLf603y1POXcnQMQi5Of+1etQ==.ed25519',
  id: '@s9+ZsrSDXz7WdQ6ED7Ry3+tN8tTzl3J0DEIuTn/tXrU=.ed25519',
}
/** Seed 001, listing 2, verbatim (note "public" printed with an "@", unlike listing 1). */
const LISTING_2 = {
  curve: 'ed25519',
  public: '@+G8+aSI7DGW/SZXvkEqX1ilx5L5B0GEnRQJu/sIS3Xk=.ed25519',
  private: 'uZBuCYVs1NeBUn6WC/kyJu1nAc64JSrQFK7+MA4nwej4bz5pIjsMZb9Jle+QSpfWKXHkvkHQYSdFAm7+whLdeQ==.ed25519',
  id: '@+G8+aSI7DGW/SZXvkEqX1ilx5L5B0GEnRQJu/sIS3Xk=.ed25519',
  ownerid: '@s9+ZsrSDXz7WdQ6ED7Ry3+tN8tTzl3J0DEIuTn/tXrU=.ed25519',
  role: 'precommitter',
}

function expectErr(result: { ok: boolean; error?: unknown }, error: Record<string, unknown>) {
  expect(result.ok).toBe(false)
  expect((result as { error: unknown }).error).toMatchObject(error)
}

describe('keyPairFromSeed', () => {
  it('derives the same public key and id as ssb-keys (libsodium) for any seed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const ours = keyPairFromSeed(seed)
        const theirs = ssbKeys.generate('ed25519', Buffer.from(seed))
        expect(ours.id).toBe(theirs.id)
        expect(`${Buffer.from(ours.publicKey).toString('base64')}.ed25519`).toBe(theirs.public)
        expect(isFeedId(ours.id)).toBe(true)
        expect(ours.id).toBe(feedIdFromPublicKey(ours.publicKey))
      }),
      { numRuns: 100 },
    )
  })

  it('copies the seed, so a caller zeroing its buffer does not change the key pair', () => {
    const seed = seedOf(5)
    const keys = keyPairFromSeed(seed)
    seed.fill(0)
    expect(keys.seed).toEqual(seedOf(5))
  })

  it('throws (a programming error, not a typed result) for a seed that is not 32 bytes', () => {
    expect(() => keyPairFromSeed(new Uint8Array(31))).toThrow(RangeError)
    expect(() => keyPairFromSeed(new Uint8Array(64))).toThrow(RangeError)
  })
})

describe('exportKeys / importKeys (seed 001 listing 1)', () => {
  it('exports exactly what ssb-keys.generate(curve, seed) produces, key order included', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const exported = exportKeys(keyPairFromSeed(seed))
        const theirs = ssbKeys.generate('ed25519', Buffer.from(seed))
        expect(exported).toEqual(theirs)
        expect(Object.keys(exported)).toEqual(['curve', 'public', 'private', 'id'])
        expect(JSON.stringify(exported)).toBe(JSON.stringify(theirs))
      }),
      { numRuns: 100 },
    )
  })

  it('imports ssb-keys output (object and text) to the same seed, public key and id', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const theirs = ssbKeys.generate('ed25519', Buffer.from(seed))
        for (const result of [importKeys(theirs), importKeysText(JSON.stringify(theirs, null, 2))]) {
          expect(result.ok).toBe(true)
          if (!result.ok) return
          expect(result.value.seed).toEqual(seed)
          expect(result.value.id).toBe(theirs.id)
        }
      }),
      { numRuns: 100 },
    )
  })

  it('round-trips: importKeys(exportKeys(k)) gives back k', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const keys = keyPairFromSeed(seed)
        const back = importKeysText(JSON.stringify(exportKeys(keys)))
        expect(back).toEqual({ ok: true, value: keys })
      }),
    )
  })

  it('imports the identity printed in seed 001 listing 1', () => {
    const result = importKeys(LISTING_1)
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.value.id).toBe(LISTING_1.id)
    expect(exportKeys(result.value)).toEqual(LISTING_1)
  })

  it('refuses text that is not JSON with IDENTITY_MALFORMED', () => {
    for (const text of ['', '{', '{"curve": "ed25519",}', "{'curve': 'ed25519'}", 'undefined', '\u0000']) {
      expectErr(importKeysText(text), { code: 'IDENTITY_MALFORMED', field: '' })
    }
  })

  it('refuses JSON that is not an object with IDENTITY_MALFORMED', () => {
    for (const value of [null, 42, 'keys', true, [], [LISTING_1]]) {
      expectErr(importKeys(value), { code: 'IDENTITY_MALFORMED', field: '' })
      expectErr(importKeysText(JSON.stringify(value)), { code: 'IDENTITY_MALFORMED', field: '' })
    }
  })

  it('refuses any curve but "ed25519" (missing, other names, other case, non-string)', () => {
    const { curve: _, ...noCurve } = LISTING_1
    expectErr(importKeys(noCurve), { code: 'IDENTITY_MALFORMED', field: 'curve' })
    for (const curve of ['secp256k1', 'Ed25519', 'ed25519 ', 'ed448', '', 25519, null]) {
      expectErr(importKeys({ ...LISTING_1, curve }), { code: 'IDENTITY_MALFORMED', field: 'curve' })
    }
  })

  it('refuses a missing or non-string public, private or id with IDENTITY_MALFORMED naming the field', () => {
    for (const field of ['public', 'private', 'id'] as const) {
      const { [field]: _, ...without } = LISTING_1
      expectErr(importKeys(without), { code: 'IDENTITY_MALFORMED', field })
      for (const bad of [null, 7, {}, ['x']])
        expectErr(importKeys({ ...LISTING_1, [field]: bad }), { code: 'IDENTITY_MALFORMED', field })
    }
  })

  it('refuses a public key that is not canonical base64 of 32 bytes plus ".ed25519"', () => {
    const b64 = LISTING_1.public.slice(0, -'.ed25519'.length)
    const bad = [
      b64, // no suffix
      `${b64}.sha256`,
      `${b64}.ed25519 `,
      `@${b64}.ed25519`, // a feed id is not a public key (see listing 2 below)
      `${b64.slice(0, 42)}V=.ed25519`, // U= -> V=: same bytes under a lenient decoder, non-zero padding bits
      `${b64.slice(0, -1)}.ed25519`, // padding removed
      `${b64.replace('+', '-')}.ed25519`, // URL-safe alphabet
      `${Buffer.alloc(31, 1).toString('base64')}.ed25519`, // 31 bytes
      `${Buffer.alloc(33, 1).toString('base64')}.ed25519`, // 33 bytes
      '.ed25519',
    ]
    for (const pub of bad) {
      expectErr(importKeys({ ...LISTING_1, public: pub }), { code: 'IDENTITY_MALFORMED', field: 'public' })
    }
  })

  it('refuses a private key that is not canonical base64 of 64 bytes plus ".ed25519"', () => {
    const b64 = LISTING_1.private.slice(0, -'.ed25519'.length)
    const seedOnly = `${Buffer.from(b64, 'base64').subarray(0, 32).toString('base64')}.ed25519`
    const bad = [
      b64,
      `${b64}.curve25519`,
      seedOnly, // 32-byte seed without the public half
      `${b64.slice(0, 85)}R==.ed25519`, // Q== -> R==: non-zero padding bits
      `${b64.slice(0, -2)}.ed25519`,
      `${b64} .ed25519`,
    ]
    for (const priv of bad) {
      expectErr(importKeys({ ...LISTING_1, private: priv }), { code: 'IDENTITY_MALFORMED', field: 'private' })
    }
  })

  it('refuses a private key that belongs to another public key with IDENTITY_KEY_MISMATCH', () => {
    const other = exportKeys(keyPairFromSeed(seedOf(9)))
    // Another key's whole secret, with this key's public and id.
    expectErr(importKeys({ ...LISTING_1, private: other.private }), { code: 'IDENTITY_KEY_MISMATCH' })
    // Another key's public and id, with this key's secret.
    expectErr(importKeys({ ...LISTING_1, public: other.public, id: other.id }), {
      code: 'IDENTITY_KEY_MISMATCH',
    })
  })

  it('refuses a private key whose second half (the public copy) disagrees with its seed', () => {
    const secret = Buffer.from(LISTING_1.private.slice(0, -8), 'base64')
    const other = keyPairFromSeed(seedOf(9)).publicKey
    const spliced = Buffer.concat([secret.subarray(0, 32), other])
    expectErr(importKeys({ ...LISTING_1, private: `${spliced.toString('base64')}.ed25519` }), {
      code: 'IDENTITY_KEY_MISMATCH',
    })
  })

  it('refuses an id that is not "@" + public with IDENTITY_KEY_MISMATCH', () => {
    const other = exportKeys(keyPairFromSeed(seedOf(9)))
    for (const id of [other.id, LISTING_1.public, LISTING_1.id.replace('@', '%'), `${LISTING_1.id} `, '']) {
      expectErr(importKeys({ ...LISTING_1, id }), { code: 'IDENTITY_KEY_MISMATCH' })
    }
  })

  it('refuses every single-character change of an exported key file (typed error, never a throw)', () => {
    const text = JSON.stringify(exportKeys(keyPairFromSeed(seedOf(3))))
    const fields = new Set(['IDENTITY_MALFORMED', 'IDENTITY_KEY_MISMATCH'])
    fc.assert(
      fc.property(fc.nat(), fc.constantFrom(...'A/+=.@"{}x0 '), (at, c) => {
        const i = at % text.length
        const mutated = text.slice(0, i) + c + text.slice(i + 1)
        fc.pre(mutated !== text)
        const result = importKeysText(mutated)
        if (result.ok) {
          // Only changes outside the key material can still import, e.g. none here: any accepted
          // file must describe the very same key.
          expect(result.value.seed).toEqual(seedOf(3))
        } else {
          expect(fields.has(result.error.code)).toBe(true)
        }
      }),
      { numRuns: 1000 },
    )
  })
})

describe('role keys (seed 001 listing 2)', () => {
  const owner = keyPairFromSeed(seedOf(1))

  it('derives the same role key from the same owner and role, every time', () => {
    for (const role of ALL_ROLES) {
      const a = deriveRoleKeys(owner, role)
      const b = deriveRoleKeys(keyPairFromSeed(seedOf(1)), role)
      expect(a).toEqual(b)
    }
  })

  it('derives a distinct key for every role, none equal to the owner key', () => {
    const ids = new Set<string>([owner.id])
    for (const role of ALL_ROLES) ids.add(deriveRoleKeys(owner, role).id)
    expect(ids.size).toBe(ALL_ROLES.length + 1)
    expect(ALL_ROLES.length).toBe(9)
  })

  it('derives different role keys for different owners', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.constantFrom(...ALL_ROLES),
        (a, b, role) => {
          fc.pre(Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0)
          expect(deriveRoleKeys(keyPairFromSeed(a), role).id).not.toBe(
            deriveRoleKeys(keyPairFromSeed(b), role).id,
          )
        },
      ),
      { numRuns: 50 },
    )
  })

  it('a role key pair is an ordinary key pair: its seed gives back its public key and id', () => {
    for (const role of ALL_ROLES) {
      const rk = deriveRoleKeys(owner, role)
      const plain = keyPairFromSeed(rk.seed)
      expect(plain.id).toBe(rk.id)
      expect(plain.publicKey).toEqual(rk.publicKey)
      expect(rk.ownerId).toBe(owner.id)
      expect(rk.role).toBe(role)
    }
  })

  it('exports the listing-2 shape: listing 1 plus ownerid and role, in that order, agreeing with ssb-keys', () => {
    const rk = deriveRoleKeys(owner, 'precommitter')
    const json = exportRoleKeys(rk)
    expect(Object.keys(json)).toEqual(['curve', 'public', 'private', 'id', 'ownerid', 'role'])
    expect(json.ownerid).toBe(owner.id)
    expect(json.role).toBe('precommitter')
    const { ownerid: _o, role: _r, ...listing1Part } = json
    expect(listing1Part).toEqual(ssbKeys.generate('ed25519', Buffer.from(rk.seed)))
    const back = importKeys(json)
    expect(back.ok && back.value.id).toBe(rk.id)
  })

  it('imports the key printed in listing 2 once its "public" is written as in listing 1 (without "@")', () => {
    // As printed, listing 2's "public" carries the "@" sigil; importKeys follows listing 1 and refuses it.
    expectErr(importKeys(LISTING_2), { code: 'IDENTITY_MALFORMED', field: 'public' })
    const fixed = importKeys({ ...LISTING_2, public: LISTING_2.public.slice(1) })
    expect(fixed.ok && fixed.value.id).toBe(LISTING_2.id)
    expect(isRole(LISTING_2.role)).toBe(true)
  })

  it('knows exactly the nine roles of seed 001', () => {
    expect([...VALIDATOR_ROLES]).toEqual(['transaction-validator', 'precommitter', 'committer', 'sealer'])
    expect([...MESSAGENODE_ROLES]).toEqual([
      'empty-block-producer',
      'block-assembler',
      'precommit-counter',
      'commit-counter',
      'seal-counter',
    ])
    for (const bad of ['validator', 'Precommitter', 'precommitter ', '', null, 3, 'toString', 'constructor'])
      expect(isRole(bad)).toBe(false)
  })
})

describe('checkRoleCertificate', () => {
  const owner = keyPairFromSeed(seedOf(1))
  const stranger = keyPairFromSeed(seedOf(2))
  const rk = deriveRoleKeys(owner, 'committer')
  const NETWORK = 'blockfin-testnet'
  const cert = (content: Record<string, unknown>, author = owner.id) => ({ author, content })

  it('accepts a certificate authored by the owner it names, for a known role, on this network', () => {
    const result = checkRoleCertificate(cert({ ...roleCertificateContent(rk, NETWORK) }), NETWORK)
    expect(result).toEqual({ ok: true, value: { ownerId: owner.id, role: 'committer', roleId: rk.id } })
  })

  it('accepts it as the content of a real signed feed message by the owner', async () => {
    const ed = createNodeBackend()
    const content = roleCertificateContent(rk, NETWORK)
    const created = await createMessage(
      { keys: owner, head: null, content: { ...content }, timestamp: 1, networkKey: null },
      ed,
    )
    expect(created.ok).toBe(true)
    if (!created.ok) return
    const decoded = decodeMessage(created.value.text, null)
    expect(decoded.ok).toBe(true)
    if (!decoded.ok) return
    expect(await ed.verifyBatch([decoded.value.verify])).toEqual([true])
    expect(checkRoleCertificate(decoded.value.value, NETWORK).ok).toBe(true)
  })

  it('refuses a certificate for another network', () => {
    for (const network of ['blockfin-mainnet', '', `${NETWORK} `, undefined, 1]) {
      expectErr(checkRoleCertificate(cert({ ...roleCertificateContent(rk, NETWORK), network }), NETWORK), {
        code: 'ROLE_CERT_INVALID',
        reason: expect.stringContaining('network'),
      })
    }
  })

  it('refuses a certificate whose ownerid is not its author (a stranger certifying someone else)', () => {
    expectErr(checkRoleCertificate(cert({ ...roleCertificateContent(rk, NETWORK) }, stranger.id), NETWORK), {
      code: 'ROLE_CERT_INVALID',
      reason: expect.stringContaining('ownerid'),
    })
  })

  it('refuses an unknown role', () => {
    for (const role of ['validator', 'Committer', '', null, 'toString', ['committer']]) {
      expectErr(checkRoleCertificate(cert({ ...roleCertificateContent(rk, NETWORK), role }), NETWORK), {
        code: 'ROLE_CERT_INVALID',
        reason: expect.stringContaining('role'),
      })
    }
  })

  it('refuses a roleid that is not a canonical feed id', () => {
    const b64 = rk.id.slice(1, -8)
    for (const roleid of [b64, `%${b64}.sha256`, `@${b64}.ed25519x`, `@${b64.slice(0, 42)}V=.ed25519`, 5]) {
      expectErr(checkRoleCertificate(cert({ ...roleCertificateContent(rk, NETWORK), roleid }), NETWORK), {
        code: 'ROLE_CERT_INVALID',
      })
    }
  })

  it('refuses content of another type', () => {
    for (const type of ['post', 'blockfin/roles', undefined]) {
      expectErr(checkRoleCertificate(cert({ ...roleCertificateContent(rk, NETWORK), type }), NETWORK), {
        code: 'ROLE_CERT_INVALID',
        reason: expect.stringContaining('type'),
      })
    }
  })
})
