/**
 * A peer that speaks the raw frame protocol of `/blockfin/replicate/1.0.0` with no engine behind
 * it: the tests script it to send exactly the frames they want (garbage, oversized, forged,
 * forked, gapped, wrong-network, unknown-author, floods) and read back what the engine answered.
 */
import { createMessage, type FeedHead, type MessageContent } from '../../src/core/feed/message'
import type { FeedId } from '../../src/core/identity/ids'
import type { KeyPair } from '../../src/core/identity/keys'
import type { PeerChannel } from '../../src/net/replication/channel'
import {
  type ClockEntry,
  decodeFrame,
  type ErrorFrame,
  type Frame,
  MAX_FRAME_BYTES,
  type WantFrame,
} from '../../src/net/replication/codec'
import { ed25519, NETWORK_KEY } from './replication-fixtures'

const encoder = new TextEncoder()

export interface HostileOptions {
  readonly networkId: string
  /** Acknowledge every data frame received (so that the engine keeps sending). Default true. */
  readonly autoAck?: boolean
}

export class HostilePeer {
  readonly frames: Frame[] = []
  /** Frames that did not decode (should never happen: the engine only sends valid frames). */
  readonly undecodable: Uint8Array[] = []
  closed = false
  readonly ended: Promise<void>
  private dataReceived = 0
  private waiters: Array<() => void> = []

  constructor(
    readonly channel: PeerChannel,
    private readonly options: HostileOptions,
  ) {
    this.ended = this.read()
  }

  private async read(): Promise<void> {
    try {
      for await (const bytes of this.channel.frames) {
        const d = decodeFrame(bytes)
        if (!d.ok) this.undecodable.push(bytes)
        else {
          this.frames.push(d.value)
          if ((d.value.t === 'msgs' || d.value.t === 'part') && this.options.autoAck !== false) {
            this.dataReceived++
            await this.send({ t: 'ack', n: this.dataReceived }).catch(() => undefined)
          }
        }
        this.notify()
      }
    } finally {
      this.closed = true
      this.notify()
    }
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w()
  }

  /** Waits (by frames received, never by time) until `condition` holds or the channel ends. */
  async waitFor(condition: () => boolean, what: string): Promise<void> {
    while (!condition()) {
      if (this.closed) throw new Error(`channel ended before: ${what}`)
      await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
  }

  sendRaw(bytes: Uint8Array): Promise<void> {
    return this.channel.send(bytes)
  }

  /** Any JSON value, with `v: 1` added to objects unless they carry their own. */
  send(frame: Record<string, unknown>): Promise<void> {
    return this.sendRaw(encoder.encode(JSON.stringify({ v: 1, ...frame })))
  }

  hello(clock: readonly ClockEntry[] = [], extra: Record<string, unknown> = {}): Promise<void> {
    return this.send({
      t: 'hello',
      net: this.options.networkId,
      all: false,
      win: { frames: 64, bytes: 64 * MAX_FRAME_BYTES },
      clock: Object.fromEntries(clock),
      more: false,
      ...extra,
    })
  }

  msgs(rid: number, feed: FeedId, seq: number, texts: string[]): Promise<void> {
    return this.send({ t: 'msgs', rid, feed, seq, texts })
  }

  errors(): ErrorFrame[] {
    return this.frames.filter((f): f is ErrorFrame => f.t === 'error')
  }

  errorCodes(): string[] {
    return this.errors().map((e) => e.code)
  }

  wants(feed?: FeedId): WantFrame[] {
    return this.frames.filter((f): f is WantFrame => f.t === 'want' && (!feed || f.feed === feed))
  }

  /** The hello the engine sent is complete. */
  helloDone(): boolean {
    return this.frames.some((f) => f.t === 'hello' && !f.more)
  }

  close(): void {
    this.channel.close('hostile done')
  }
}

let ts = 1_800_000_000_000

/** Signs a chain of `count` messages of `keys` after `head` (no store involved). */
export async function signChain(
  keys: KeyPair,
  count: number,
  options: { head?: FeedHead | null; networkKey?: Uint8Array; content?: (i: number) => MessageContent } = {},
): Promise<string[]> {
  const texts: string[] = []
  let head = options.head ?? null
  for (let i = 0; i < count; i++) {
    const m = await createMessage(
      {
        keys,
        head,
        content: options.content?.(i) ?? { type: 'post', text: `chain ${i}` },
        timestamp: ts++,
        networkKey: options.networkKey ?? NETWORK_KEY,
      },
      ed25519,
    )
    if (!m.ok) throw new Error(m.error.code)
    texts.push(m.value.text)
    head = { sequence: m.value.value.sequence, id: m.value.id }
  }
  return texts
}

/** The same message with one signature character changed: shape intact, signature wrong. */
export function forge(text: string): string {
  const at = text.indexOf('"signature": "') + '"signature": "'.length
  const c = text[at]
  return `${text.slice(0, at)}${c === 'A' ? 'B' : 'A'}${text.slice(at + 1)}`
}
