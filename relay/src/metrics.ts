/**
 * The relay's Prometheus metrics (`GET /metrics`), in a registry of its own (no global state):
 * connections by transport and direction, peers, circuit reservations, feeds and stored messages,
 * replication messages received / stored / rejected by reason, bytes in and out, and misbehaving
 * peers disconnected. Gauges are read when scraped; counters are fed as things happen.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import type { AppendOutcome } from '../../src/store/feed-store'

export interface MetricsSource {
  connections(): readonly { readonly transport: string; readonly direction: string }[]
  reservations(): number
  feeds(): { count: number; messages: number }
}

export interface RelayMetrics {
  readonly contentType: string
  /** Texts handed to the store by replication, and what it answered for each. */
  countOutcomes(outcomes: readonly AppendOutcome[]): void
  countBytes(direction: 'in' | 'out', bytes: number): void
  countDisconnect(reason: string): void
  /** The Prometheus text exposition. */
  text(): Promise<string>
}

export function createRelayMetrics(
  options: { readonly prefix?: string; readonly processMetrics?: boolean },
  deps: { readonly source: () => MetricsSource | undefined },
): RelayMetrics {
  const prefix = options.prefix ?? 'blockfin_relay_'
  const registry = new Registry()
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix })

  new Gauge({
    name: `${prefix}connections`,
    help: 'Open libp2p connections, by transport and direction',
    labelNames: ['transport', 'direction'],
    registers: [registry],
    collect() {
      this.reset()
      for (const c of deps.source()?.connections() ?? [])
        this.inc({ transport: c.transport, direction: c.direction })
    },
  })
  new Gauge({
    name: `${prefix}reservations`,
    help: 'Circuit relay reservations held',
    registers: [registry],
    collect() {
      this.set(deps.source()?.reservations() ?? 0)
    },
  })
  new Gauge({
    name: `${prefix}feeds`,
    help: 'Feeds held in the store',
    registers: [registry],
    collect() {
      this.set(deps.source()?.feeds().count ?? 0)
    },
  })
  new Gauge({
    name: `${prefix}stored_messages`,
    help: 'Messages held in the store (sum of every feed head)',
    registers: [registry],
    collect() {
      this.set(deps.source()?.feeds().messages ?? 0)
    },
  })
  const received = new Counter({
    name: `${prefix}messages_received_total`,
    help: 'Messages received by replication and handed to the store',
    registers: [registry],
  })
  const stored = new Counter({
    name: `${prefix}messages_stored_total`,
    help: 'Received messages the store verified and kept',
    registers: [registry],
  })
  const rejected = new Counter({
    name: `${prefix}messages_rejected_total`,
    help: 'Received messages the store refused, by reason (FEED_DUPLICATE: already held)',
    labelNames: ['reason'],
    registers: [registry],
  })
  const bytes = new Counter({
    name: `${prefix}replication_bytes_total`,
    help: 'Bytes of replication frames (with their length prefixes), by direction',
    labelNames: ['direction'],
    registers: [registry],
  })
  const disconnects = new Counter({
    name: `${prefix}peers_disconnected_total`,
    help: 'Peers disconnected for misbehaving, by reason',
    labelNames: ['reason'],
    registers: [registry],
  })

  return {
    contentType: registry.contentType,
    countOutcomes(outcomes) {
      received.inc(outcomes.length)
      let ok = 0
      for (const o of outcomes) {
        if (o.ok) ok++
        else rejected.inc({ reason: o.error.code })
      }
      if (ok > 0) stored.inc(ok)
    },
    countBytes(direction, n) {
      bytes.inc({ direction }, n)
    },
    countDisconnect(reason) {
      disconnects.inc({ reason: reason.slice(0, 64) })
    },
    text: () => registry.metrics(),
  }
}
