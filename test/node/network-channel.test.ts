/**
 * The libp2p adapter under the replication engine, over real libp2p connections (TCP, noise,
 * yamux) between Node peers: framing, limits, backpressure, close semantics, duplicate settling.
 * Waits are by events or polling, never by elapsed time.
 */
import '../../src/node/polyfills'
import type { Connection } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import { createNodePeer, type NodePeer } from '../../relay/src/node-peer'
import { type ChannelHost, type ChannelInfo, startChannelHost } from '../../src/net/libp2p/channel-host'
import { ChannelError, createStreamChannel, MAX_FRAME_LENGTH } from '../../src/net/libp2p/stream-channel'
import { ChannelClosedError } from '../../src/net/replication/channel'

const PROTOCOL = '/blockfin-test/echo/1.0.0'

const nodes: NodePeer[] = []
const hosts: ChannelHost[] = []
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.stop()
  for (const n of nodes.splice(0)) await n.stop()
})

async function pair() {
  const a = await createNodePeer({}, {})
  const b = await createNodePeer({ listen: ['/ip4/127.0.0.1/tcp/0'] }, {})
  nodes.push(a, b)
  return { a, b, addr: b.getMultiaddrs()[0]! }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (condition()) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error(`never happened: ${what}`)
}

function bytesOf(n: number, size: number): Uint8Array {
  const out = new Uint8Array(size)
  new DataView(out.buffer).setUint32(0, n)
  out.fill(n & 0xff, 4)
  return out
}

describe('stream channel over libp2p', () => {
  it('carries frames in order, up to 16 KiB each, both ways', async () => {
    const { a, b, addr } = await pair()
    const received: Uint8Array[] = []
    const onB = new Promise<ChannelInfo>((resolve) => {
      void startChannelHost({ protocol: PROTOCOL }, { node: b, onChannel: resolve }).then((h) =>
        hosts.push(h),
      )
    })
    const onA = new Promise<ChannelInfo>((resolve) => {
      void startChannelHost({ protocol: PROTOCOL }, { node: a, onChannel: resolve }).then((h) =>
        hosts.push(h),
      )
    })
    await a.dial(addr)
    const [ca, cb] = await Promise.all([onA, onB])
    expect(ca.opened).toBe(true)
    expect(cb.opened).toBe(false)
    expect(ca.channel.peer).toBe(b.peerId.toString())
    expect(cb.channel.peer).toBe(a.peerId.toString())

    const sizes = [4, 100, 1000, MAX_FRAME_LENGTH - 1, MAX_FRAME_LENGTH]
    const reading = (async () => {
      for await (const f of cb.channel.frames) {
        received.push(f)
        if (received.length === 200) break
      }
    })()
    for (let i = 0; i < 200; i++) await ca.channel.send(bytesOf(i, sizes[i % sizes.length]!))
    await reading
    expect(received.map((f) => new DataView(f.buffer, f.byteOffset).getUint32(0))).toEqual(
      Array.from({ length: 200 }, (_, i) => i),
    )
    expect(received.map((f) => f.byteLength)).toEqual(
      Array.from({ length: 200 }, (_, i) => sizes[i % sizes.length]),
    )

    await cb.channel.send(new TextEncoder().encode('back'))
    const iterator = ca.channel.frames[Symbol.asyncIterator]()
    expect(new TextDecoder().decode((await iterator.next()).value)).toBe('back')
  })

  it('refuses to send a frame over 16 KiB or an empty one, and a closed channel rejects sends', async () => {
    const { a, b, addr } = await pair()
    hosts.push(await startChannelHost({ protocol: PROTOCOL }, { node: b, onChannel: () => undefined }))
    const opened = new Promise<ChannelInfo>((resolve) => {
      void startChannelHost({ protocol: PROTOCOL }, { node: a, onChannel: resolve }).then((h) =>
        hosts.push(h),
      )
    })
    await a.dial(addr)
    const { channel } = await opened
    await expect(channel.send(new Uint8Array(MAX_FRAME_LENGTH + 1))).rejects.toMatchObject({
      code: 'FRAME_TOO_LARGE',
      data: { length: MAX_FRAME_LENGTH + 1, max: MAX_FRAME_LENGTH },
    })
    await expect(channel.send(new Uint8Array(0))).rejects.toBeInstanceOf(ChannelError)
    channel.close()
    channel.close() // idempotent
    await expect(channel.send(new Uint8Array(1))).rejects.toBeInstanceOf(ChannelClosedError)
    const frames: Uint8Array[] = []
    for await (const f of channel.frames) frames.push(f)
    expect(frames).toEqual([])
  })

  it('delivers frames sent before close, then ends the peer’s frames', async () => {
    const { a, b, addr } = await pair()
    const accepted = new Promise<ChannelInfo>((resolve) => {
      void startChannelHost({ protocol: PROTOCOL }, { node: b, onChannel: resolve }).then((h) =>
        hosts.push(h),
      )
    })
    const opened = new Promise<ChannelInfo>((resolve) => {
      void startChannelHost({ protocol: PROTOCOL }, { node: a, onChannel: resolve }).then((h) =>
        hosts.push(h),
      )
    })
    await a.dial(addr)
    const [ca, cb] = await Promise.all([opened, accepted])
    for (let i = 0; i < 50; i++) await ca.channel.send(bytesOf(i, 2000))
    ca.channel.close('done')
    const got: number[] = []
    for await (const f of cb.channel.frames) got.push(new DataView(f.buffer, f.byteOffset).getUint32(0))
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i))
    // Half-closed until the other side closes too (as the engine does when its peer's frames end).
    cb.channel.close()
    expect((await ca.channel.ended).local).toBe(true)
    expect((await cb.channel.ended).reason).toBeUndefined()
  })

  it('pauses the stream for a slow reader instead of buffering without bound', async () => {
    const { a, b, addr } = await pair()
    const accepted = new Promise<ChannelInfo>((resolve) => {
      void startChannelHost({ protocol: PROTOCOL }, { node: b, onChannel: resolve }).then((h) =>
        hosts.push(h),
      )
    })
    const opened = new Promise<ChannelInfo>((resolve) => {
      void startChannelHost({ protocol: PROTOCOL }, { node: a, onChannel: resolve }).then((h) =>
        hosts.push(h),
      )
    })
    await a.dial(addr)
    const [ca, cb] = await Promise.all([opened, accepted])
    // 6000 frames of 8 KiB = 47 MiB: far more than yamux's largest window (16 MiB) plus the
    // channel's 256-frame queue.
    const total = 6000
    let sent = 0
    const sending = (async () => {
      for (; sent < total; sent++) await ca.channel.send(bytesOf(sent, 8 * 1024))
    })()
    // Nobody reads yet: the sender must be held back by the transport.
    await until(() => cb.channel.stream.readStatus === 'paused', 'the reader paused the stream')
    // Let the sender run into the window.
    let stalled = -1
    await until(() => {
      const same = stalled === sent
      stalled = sent
      return same
    }, 'the sender stalled')
    expect(sent).toBeLessThan(total)
    expect(cb.channel.stream.readBufferLength).toBeLessThanOrEqual(17 * 1024 * 1024)
    let read = 0
    for await (const f of cb.channel.frames) {
      expect(new DataView(f.buffer, f.byteOffset).getUint32(0)).toBe(read)
      read++
      if (read === total) break
    }
    await sending
    expect(sent).toBe(total)
  })

  it('resets a stream whose peer announces a frame over 16 KiB and reports it as misbehaviour', async () => {
    const { a, b, addr } = await pair()
    const misbehaved = new Promise<string>((resolve) => {
      void startChannelHost(
        { protocol: PROTOCOL },
        { node: b, onChannel: () => undefined, onMisbehaviour: (_info, reason) => resolve(reason) },
      ).then((h) => hosts.push(h))
    })
    const connection = await a.dial(addr)
    const stream = await connection.newStream(PROTOCOL)
    // A varint length of 16385, then some bytes.
    stream.send(Uint8Array.from([0x81, 0x80, 0x01, 1, 2, 3]))
    expect(await misbehaved).toMatch(/bad frame/)
    await until(() => stream.status !== 'open', 'the stream was reset')
  })

  it('keeps one channel per peer when two connections exist', async () => {
    const { a, b, addr } = await pair()
    const onA: ChannelInfo[] = []
    const onB: ChannelInfo[] = []
    hosts.push(await startChannelHost({ protocol: PROTOCOL }, { node: a, onChannel: (i) => onA.push(i) }))
    hosts.push(await startChannelHost({ protocol: PROTOCOL }, { node: b, onChannel: (i) => onB.push(i) }))
    const first: Connection = await a.dial(addr)
    await until(() => onA.length === 1 && onB.length === 1, 'the first channel')
    const second: Connection = await a.dial(addr, { force: true })
    expect(second.id).not.toBe(first.id)
    await until(() => onA.length === 2 && onB.length === 2, 'the second channel')
    // The dialer (a) closes the newer of its own channels, and the connection under it.
    await until(
      () => hosts[0]!.channels().length === 1 && hosts[1]!.channels().length === 1,
      'duplicates settled',
    )
    expect(hosts[0]!.channels()[0]!.connection.id).toBe(first.id)
    await until(() => second.status !== 'open', 'the duplicate connection closed')
  })
})

describe('createStreamChannel', () => {
  it('writes the frames of one event-loop turn to the stream together, and at once past 64 KiB', async () => {
    const { a, b, addr } = await pair()
    const onB = new Promise<ChannelInfo>((resolve) => {
      void startChannelHost({ protocol: PROTOCOL }, { node: b, onChannel: resolve }).then((h) =>
        hosts.push(h),
      )
    })
    const onA = new Promise<ChannelInfo>((resolve) => {
      void startChannelHost({ protocol: PROTOCOL }, { node: a, onChannel: resolve }).then((h) =>
        hosts.push(h),
      )
    })
    await a.dial(addr)
    const [ca, cb] = await Promise.all([onA, onB])
    // Count the writes the channel makes to its (real) stream.
    const stream = ca.channel.stream
    const send = stream.send.bind(stream)
    let writes = 0
    stream.send = (data) => {
      writes++
      return send(data)
    }
    const received: number[] = []
    const reading = (async () => {
      for await (const f of cb.channel.frames) {
        received.push(new DataView(f.buffer, f.byteOffset).getUint32(0))
        if (received.length === 15) break
      }
    })()
    // Ten small frames in one turn: one write (each was a muxer frame, an encryption and a socket write).
    for (let i = 0; i < 10; i++) await ca.channel.send(bytesOf(i, 100))
    expect(writes).toBe(0)
    await new Promise((resolve) => setImmediate(resolve))
    expect(writes).toBe(1)
    // Five full frames: the fourth reaches 64 KiB and goes at once, the fifth at the end of the turn.
    for (let i = 10; i < 15; i++) await ca.channel.send(bytesOf(i, MAX_FRAME_LENGTH))
    expect(writes).toBe(2)
    await reading
    expect(writes).toBe(3)
    expect(received).toEqual(Array.from({ length: 15 }, (_, i) => i))
  })

  it('ends at once on a stream that is already closed', async () => {
    const { a, b, addr } = await pair()
    await b.handle(PROTOCOL, (stream) => stream.abort(new Error('no')))
    const stream = await (await a.dial(addr)).newStream(PROTOCOL)
    await until(() => stream.status !== 'open', 'the remote reset the stream')
    const channel = createStreamChannel({ peer: 'x' }, { stream })
    const end = await channel.ended
    expect(end.local).toBe(false)
  })
})
