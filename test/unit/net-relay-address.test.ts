import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../../src/net/libp2p/keep-connected'
import {
  httpUrlOfMultiaddr,
  parseRelayTarget,
  resolveRelayTarget,
  wsMultiaddrOfUrl,
} from '../../src/net/libp2p/relay-address'

const PEER = '12D3KooWBYnPpQ6FJV3HwTvL21TXEnQCKtcNHYt1rbWNYAK4qqAK'

describe('relay targets', () => {
  it('parses multiaddrs and http(s) URLs, and refuses anything else with a typed error', () => {
    const ma = parseRelayTarget(`/ip4/127.0.0.1/tcp/8081/p2p/${PEER}`)
    expect(ma.ok && ma.value.kind).toBe('multiaddr')
    const url = parseRelayTarget(' http://localhost:8080/some/path ')
    expect(url.ok && url.value).toMatchObject({ kind: 'http', url: 'http://localhost:8080' })
    for (const bad of ['', 'localhost:8080', 'ftp://x', '/ip4/not-an-ip/tcp/1', 'ws://x:1'])
      expect(parseRelayTarget(bad)).toMatchObject({ ok: false, error: { code: 'RELAY_TARGET_INVALID' } })
  })

  it('maps a WebSockets multiaddr to the HTTP origin on the same port, and back', () => {
    expect(httpUrlOfMultiaddr(multiaddr(`/ip4/127.0.0.1/tcp/8080/ws/p2p/${PEER}`))).toBe(
      'http://127.0.0.1:8080',
    )
    expect(httpUrlOfMultiaddr(multiaddr('/dns4/relay.example/tcp/443/tls/ws'))).toBe(
      'https://relay.example:443',
    )
    expect(httpUrlOfMultiaddr(multiaddr('/ip6/::1/tcp/9000/ws'))).toBe('http://[::1]:9000')
    expect(httpUrlOfMultiaddr(multiaddr(`/ip4/127.0.0.1/tcp/8081/p2p/${PEER}`))).toBeUndefined()
    expect(wsMultiaddrOfUrl('http://127.0.0.1:8080', PEER).toString()).toBe(
      `/ip4/127.0.0.1/tcp/8080/ws/p2p/${PEER}`,
    )
    expect(wsMultiaddrOfUrl('https://relay.example').toString()).toBe('/dns/relay.example/tcp/443/tls/ws')
    expect(wsMultiaddrOfUrl('http://[::1]:9000').toString()).toBe('/ip6/::1/tcp/9000/ws')
  })

  it('resolves an HTTP URL through /api/status: WebSockets first for tabs, TCP first for Node', async () => {
    const target = parseRelayTarget('http://127.0.0.1:8080')
    if (!target.ok) throw new Error('unreachable')
    const fetch = (async () =>
      new Response(
        JSON.stringify({
          relay: { id: '@x' },
          network: { id: '%n' },
          p2p: {
            peerId: PEER,
            multiaddrs: [
              `/ip4/127.0.0.1/tcp/8080/ws/p2p/${PEER}`,
              `/ip4/127.0.0.1/tcp/8081/p2p/${PEER}`,
              `/ip4/127.0.0.1/tcp/8080/ws/p2p/${PEER}/p2p-circuit`,
            ],
          },
        }),
      )) as typeof globalThis.fetch
    const ws = await resolveRelayTarget(target.value, { prefer: 'websockets' }, { fetch })
    expect(ws.map(String)).toEqual([`/ip4/127.0.0.1/tcp/8080/ws/p2p/${PEER}`])
    const tcp = await resolveRelayTarget(target.value, { prefer: 'tcp' }, { fetch })
    expect(tcp.map(String)).toEqual([
      `/ip4/127.0.0.1/tcp/8081/p2p/${PEER}`,
      `/ip4/127.0.0.1/tcp/8080/ws/p2p/${PEER}`,
    ])
  })
})

describe('backoff', () => {
  it('doubles from the minimum up to the maximum, with +-25% jitter', () => {
    const at = (attempt: number, r: number) => backoffDelay(attempt, 500, 15_000, () => r)
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => at(a, 0.5))).toEqual([
      500, 1000, 2000, 4000, 8000, 15_000, 15_000,
    ])
    expect(at(1, 0)).toBe(375)
    expect(at(1, 1)).toBe(625)
    expect(at(40, 1)).toBe(18_750)
  })
})
