import { describe, expect, it } from 'vitest'
import { checkNetwork, loadNetwork, type NetworkCache, type NetworkDescriptor } from '../../src/app/network'
import { encodeBase64 } from '../../src/core/encoding/base64'
import { encodeCanonical, messageIdOfText } from '../../src/core/feed/message'

function networkDocument(): NetworkDescriptor {
  const key = encodeBase64(new Uint8Array(32).fill(7))
  const genesis = {
    type: 'blockfin/genesis',
    version: 1,
    name: 'local',
    networkKey: key,
    createdAt: '2026-01-01T00:00:00.000Z',
    messagenodes: [],
    admins: [],
    validators: [],
    allocations: {},
  }
  return { id: messageIdOfText(encodeCanonical(genesis)), key, name: 'local', genesis }
}

function memoryCache(initial?: NetworkDescriptor): NetworkCache & { saved: NetworkDescriptor[] } {
  let current = initial
  const saved: NetworkDescriptor[] = []
  return {
    saved,
    load: async () => current,
    save: async (n) => {
      current = n
      saved.push(n)
    },
  }
}

const answering =
  (body: unknown, status = 200): typeof fetch =>
  async () =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
const unreachable: typeof fetch = async () => {
  throw new TypeError('Failed to fetch')
}

describe('checkNetwork', () => {
  it('accepts a document whose id is the hash of its genesis', () => {
    const doc = networkDocument()
    expect(checkNetwork(doc)).toEqual({ ok: true, value: doc })
  })

  it('refuses an edited genesis, a wrong key or a malformed document', () => {
    const edited = networkDocument()
    ;(edited.genesis as Record<string, unknown>).allocations = { '@x': 1 }
    expect(checkNetwork(edited)).toMatchObject({ ok: false, error: { code: 'NETWORK_INVALID' } })
    expect(checkNetwork({ ...networkDocument(), key: encodeBase64(new Uint8Array(32)) })).toMatchObject({
      ok: false,
      error: { code: 'NETWORK_INVALID' },
    })
    expect(checkNetwork({ ...networkDocument(), key: 'short' })).toMatchObject({ ok: false })
    expect(checkNetwork(null)).toMatchObject({ ok: false, error: { code: 'NETWORK_INVALID' } })
  })
})

describe('loadNetwork', () => {
  it('uses the relay when it answers, and caches what it got', async () => {
    const doc = networkDocument()
    const cache = memoryCache()
    const loaded = await loadNetwork({ url: '/api/network' }, { fetch: answering(doc), cache })
    expect(loaded.ok && loaded.value.source).toBe('relay')
    expect(loaded.ok && loaded.value.keyBytes).toEqual(new Uint8Array(32).fill(7))
    expect(cache.saved).toEqual([doc])
  })

  it('falls back to the cached copy when the relay cannot be reached', async () => {
    const doc = networkDocument()
    const loaded = await loadNetwork({ url: '/api/network' }, { fetch: unreachable, cache: memoryCache(doc) })
    expect(loaded.ok && loaded.value.source).toBe('cache')
    expect(loaded.ok && loaded.value.network).toEqual(doc)
    const failing = await loadNetwork(
      { url: '/api/network' },
      { fetch: answering({ error: {} }, 503), cache: memoryCache(doc) },
    )
    expect(failing.ok && failing.value.source).toBe('cache')
  })

  it('fails with NETWORK_UNAVAILABLE when offline on the first visit', async () => {
    const loaded = await loadNetwork({ url: '/api/network' }, { fetch: unreachable, cache: memoryCache() })
    expect(loaded).toMatchObject({ ok: false, error: { code: 'NETWORK_UNAVAILABLE' } })
  })

  it('refuses (and does not cache) a network document that does not check out', async () => {
    const bad = { ...networkDocument(), id: '%AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.sha256' }
    const cache = memoryCache()
    const loaded = await loadNetwork({ url: '/api/network' }, { fetch: answering(bad), cache })
    expect(loaded).toMatchObject({ ok: false, error: { code: 'NETWORK_INVALID' } })
    expect(cache.saved).toEqual([])
  })
})
