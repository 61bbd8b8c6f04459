/**
 * The yamux patch (patches/@libp2p+yamux+8.0.3.patch, applied by `npm install`): a stream sends a
 * window update once half its receive window is used, as go-yamux and rust-yamux do, not one per
 * data frame received. Live consensus traffic is many small frames; one update each doubled the
 * frames every connection carried (each encrypted, and in a tab each a WebSocket send).
 */
import { logger } from '@libp2p/logger'
import { StreamState, YamuxStream } from '@libp2p/yamux/stream'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'

const DATA = 0
const WINDOW_UPDATE = 1
const WINDOW = 256 * 1024 // yamux's initial stream window

/** The header of a frame the stream sends (yamux passes the data, if any, beside it). */
interface SentFrame {
  readonly type: number
  readonly length: number
  readonly flag: number
}

function receivingStream(): { stream: YamuxStream; sent: SentFrame[] } {
  const sent: SentFrame[] = []
  const stream = new YamuxStream({
    id: '1',
    streamId: 1,
    state: StreamState.Established,
    direction: 'inbound',
    log: logger('test:yamux'),
    // No RTT measured: the window keeps its initial size.
    getRTT: () => -1,
    sendFrame: (frame: SentFrame) => {
      sent.push(frame)
      return true
    },
  } as unknown as ConstructorParameters<typeof YamuxStream>[0])
  return { stream, sent }
}

const dataFrame = (bytes: number) => ({
  header: { type: DATA, flag: 0, streamID: 1, length: bytes },
  data: new Uint8ArrayList(new Uint8Array(bytes)),
})

describe('yamux flow control (patched)', () => {
  it('sends no window update for small frames until half the window is used, then one for all of it', () => {
    const { stream, sent } = receivingStream()
    const updates = () => sent.filter((f) => f.type === WINDOW_UPDATE)
    const frame = 1000
    let received = 0
    while (received + frame < WINDOW / 2) {
      stream.handleData(dataFrame(frame))
      received += frame
    }
    // Unpatched yamux sent one update per frame here (130 of them).
    expect(updates()).toHaveLength(0)
    stream.handleData(dataFrame(frame))
    received += frame
    expect(updates()).toHaveLength(1)
    expect(updates()[0]!.length).toBe(received)
    // The sender never ran dry: it always had at least half a window of credit.
    stream.handleData(dataFrame(WINDOW / 2 - 1))
    expect(updates()).toHaveLength(1)
  })
})
