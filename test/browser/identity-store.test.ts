import { deleteDB, openDB } from 'idb'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { exportKeys, type KeyPair, keyPairFromSeed } from '../../src/core/identity/keys'
import { type IdentityStore, openIdentityStore } from '../../src/store/identity-store'

const newKeys = (): KeyPair => keyPairFromSeed(crypto.getRandomValues(new Uint8Array(32)))

describe('identity store (IndexedDB, Chromium)', () => {
  let name = ''
  const opened: IdentityStore[] = []
  const open = async () => {
    const store = await openIdentityStore({ name })
    opened.push(store)
    return store
  }
  /** Writes a record the way a corrupted profile or an old version might have left it. */
  const writeRaw = async (record: unknown) => {
    const db = await openDB(name)
    await db.put('identity', record, 'self')
    db.close()
  }

  beforeEach(() => {
    name = `blockfin-identity-test-${crypto.randomUUID()}`
  })
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close()
    await deleteDB(name)
  })

  it('loads nothing from a new database', async () => {
    const store = await open()
    expect(await store.load()).toEqual({ ok: true, value: undefined })
  })

  it('keeps a saved identity across a reopen', async () => {
    const keys = newKeys()
    const store = await open()
    expect(await store.save(keys)).toEqual({ ok: true, value: undefined })
    await store.close()
    const loaded = await (await open()).load()
    if (!loaded.ok || !loaded.value) throw new Error(`expected an identity, got ${JSON.stringify(loaded)}`)
    expect(loaded.value.id).toBe(keys.id)
    expect(loaded.value.publicKey).toEqual(keys.publicKey)
    expect(loaded.value.seed).toEqual(keys.seed)
  })

  it('stores the listing-1 JSON', async () => {
    const keys = newKeys()
    const store = await open()
    await store.save(keys)
    const db = await openDB(name)
    expect(await db.get('identity', 'self')).toEqual(exportKeys(keys))
    db.close()
  })

  it('replaces the identity on save and forgets it on clear', async () => {
    const store = await open()
    const first = newKeys()
    const second = newKeys()
    await store.save(first)
    await store.save(second)
    const loaded = await store.load()
    expect(loaded.ok && loaded.value?.id).toBe(second.id)
    expect(await store.clear()).toEqual({ ok: true, value: undefined })
    await store.close()
    expect(await (await open()).load()).toEqual({ ok: true, value: undefined })
  })

  it('reports a corrupt record as a typed error', async () => {
    const store = await open()
    const keys = newKeys()
    const other = newKeys()
    const cases: [unknown, string][] = [
      ['not an object', 'IDENTITY_MALFORMED'],
      [{ ...exportKeys(keys), curve: 'secp256k1' }, 'IDENTITY_MALFORMED'],
      [{ ...exportKeys(keys), private: 'truncated.ed25519' }, 'IDENTITY_MALFORMED'],
      [{ ...exportKeys(keys), public: exportKeys(other).public }, 'IDENTITY_KEY_MISMATCH'],
      [{ ...exportKeys(keys), id: other.id }, 'IDENTITY_KEY_MISMATCH'],
    ]
    for (const [record, cause] of cases) {
      await writeRaw(record)
      const loaded = await store.load()
      expect(loaded.ok).toBe(false)
      if (!loaded.ok) {
        expect(loaded.error.code).toBe('IDENTITY_RECORD_CORRUPT')
        expect(loaded.error.code === 'IDENTITY_RECORD_CORRUPT' && loaded.error.cause.code).toBe(cause)
      }
    }
    // A corrupt record can be replaced.
    await store.save(keys)
    const loaded = await store.load()
    expect(loaded.ok && loaded.value?.id).toBe(keys.id)
  })

  it('fails with a typed error, not an exception, once closed', async () => {
    const store = await open()
    await store.close()
    expect(await store.save(newKeys())).toMatchObject({ ok: false, error: { code: 'IDENTITY_STORE_FAILED' } })
    expect(await store.load()).toMatchObject({ ok: false, error: { code: 'IDENTITY_STORE_FAILED' } })
  })
})
