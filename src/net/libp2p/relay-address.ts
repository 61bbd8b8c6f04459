/**
 * Naming a relay: by a multiaddr (`/ip4/…/tcp/8080/ws/p2p/12D3…`) or by the HTTP URL that serves
 * its app (`http://host:8080`). An HTTP URL is resolved through `GET /api/status` (its peer id and
 * multiaddrs) each time it is dialed, so a relay that restarted on other addresses is found again.
 * Because WebSockets share the HTTP port, the URL itself also gives a WebSockets address.
 */
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { err, ok, type Result } from '../../core/result'

export type RelayTarget =
  | { readonly kind: 'multiaddr'; readonly addr: Multiaddr; readonly text: string }
  | { readonly kind: 'http'; readonly url: string; readonly text: string }

export type RelayTargetError = { code: 'RELAY_TARGET_INVALID'; target: string; reason: string }

export function parseRelayTarget(text: string): Result<RelayTarget, RelayTargetError> {
  const target = text.trim()
  const invalid = (reason: string) => err({ code: 'RELAY_TARGET_INVALID' as const, target, reason })
  if (target.startsWith('/')) {
    try {
      return ok({ kind: 'multiaddr', addr: multiaddr(target), text: target })
    } catch (e) {
      return invalid(`not a multiaddr: ${(e as Error).message}`)
    }
  }
  let url: URL
  try {
    url = new URL(target)
  } catch {
    return invalid('neither a multiaddr nor an http(s) URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return invalid('the URL must be http or https')
  return ok({ kind: 'http', url: url.origin, text: target })
}

/** The HTTP origin behind a relay's WebSockets multiaddr (same port), when it has one. */
export function httpUrlOfMultiaddr(addr: Multiaddr): string | undefined {
  const parts = addr.getComponents()
  const host = parts[0]
  const tcp = parts[1]
  if (!host || !tcp || tcp.name !== 'tcp' || host.value === undefined) return undefined
  const names = parts.map((p) => p.name)
  const secure = names.includes('wss') || names.includes('tls')
  if (!secure && !names.includes('ws')) return undefined
  const hostText = host.name === 'ip6' ? `[${host.value}]` : host.value
  return `${secure ? 'https' : 'http'}://${hostText}:${tcp.value}`
}

/** The WebSockets multiaddr of an HTTP origin (the relay shares the port). */
export function wsMultiaddrOfUrl(origin: string, peerId?: string): Multiaddr {
  const url = new URL(origin)
  const secure = url.protocol === 'https:'
  const port = url.port || (secure ? '443' : '80')
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const proto = /^[0-9.]+$/.test(host) ? 'ip4' : host.includes(':') ? 'ip6' : 'dns'
  const text = `/${proto}/${host}/tcp/${port}/${secure ? 'tls/ws' : 'ws'}${peerId ? `/p2p/${peerId}` : ''}`
  return multiaddr(text)
}

export interface RelayStatusP2p {
  readonly peerId: string
  readonly multiaddrs: readonly string[]
}

/** Fetches a relay's libp2p identity from `GET /api/status`. */
export async function fetchRelayP2p(
  origin: string,
  deps: { readonly fetch: typeof fetch },
  signal?: AbortSignal,
): Promise<RelayStatusP2p & { readonly relayId: string; readonly networkId: string }> {
  const response = await deps.fetch(new URL('/api/status', origin), {
    cache: 'no-store',
    ...(signal ? { signal } : {}),
  })
  if (!response.ok) throw new Error(`GET ${origin}/api/status: HTTP ${response.status}`)
  const body = (await response.json()) as {
    p2p?: Partial<RelayStatusP2p>
    relay?: { id?: string }
    network?: { id?: string }
  }
  const p2p = body.p2p
  if (!p2p || typeof p2p.peerId !== 'string' || !Array.isArray(p2p.multiaddrs))
    throw new Error(`${origin} does not run libp2p (no p2p in /api/status)`)
  return {
    peerId: p2p.peerId,
    multiaddrs: p2p.multiaddrs.filter((a): a is string => typeof a === 'string'),
    relayId: String(body.relay?.id ?? ''),
    networkId: String(body.network?.id ?? ''),
  }
}

const isWs = (a: Multiaddr) => a.getComponents().some((p) => p.name === 'ws' || p.name === 'wss')
const isCircuit = (a: Multiaddr) => a.getComponents().some((p) => p.name === 'p2p-circuit')
const withPeer = (a: Multiaddr, peerId: string) =>
  a.getComponents().some((p) => p.name === 'p2p') ? a : a.encapsulate(`/p2p/${peerId}`)

/**
 * The addresses to dial for a relay target, best first. `websockets` (browsers): the URL's own
 * origin, then the announced WebSockets addresses. `tcp` (Node): TCP first, then WebSockets.
 */
export async function resolveRelayTarget(
  target: RelayTarget,
  options: { readonly prefer: 'websockets' | 'tcp' },
  deps: { readonly fetch: typeof fetch },
  signal?: AbortSignal,
): Promise<Multiaddr[]> {
  if (target.kind === 'multiaddr') return [target.addr]
  const p2p = await fetchRelayP2p(target.url, deps, signal)
  const announced = p2p.multiaddrs
    .map((text) => {
      try {
        return multiaddr(text)
      } catch {
        return undefined
      }
    })
    .filter((a): a is Multiaddr => a !== undefined && !isCircuit(a))
    .map((a) => withPeer(a, p2p.peerId))
  const ws = announced.filter(isWs)
  const tcp = announced.filter((a) => !isWs(a))
  const own = wsMultiaddrOfUrl(target.url, p2p.peerId)
  const dedupe = (list: Multiaddr[]) => {
    const seen = new Set<string>()
    return list.filter((a) => !seen.has(a.toString()) && seen.add(a.toString()))
  }
  return options.prefer === 'websockets' ? dedupe([own, ...ws]) : dedupe([...tcp, own, ...ws])
}
