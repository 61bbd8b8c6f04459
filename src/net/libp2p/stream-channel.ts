/**
 * Adapts one libp2p stream to the replication engine's `PeerChannel`: frames are length-prefixed
 * (unsigned varint, the framing libp2p itself uses; decoded with @libp2p/utils'
 * LengthPrefixedDecoder), at most `maxFrameLength` bytes each. Reading applies backpressure: when
 * the consumer falls `highWaterMark` frames behind, the stream is paused (yamux and WebRTC then stop
 * the sender through their flow-control windows) and resumed once the backlog halves.
 */
import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import createDebug from 'debug'
import { ChannelClosedError, type PeerChannel } from '../replication/channel'
import { MAX_FRAME_BYTES } from '../replication/codec'

const log = createDebug('blockfin:net:channel')

export type { PeerChannel }

/** 16 KiB: the largest frame the replication protocol allows (its length prefix not counted). */
export const MAX_FRAME_LENGTH = MAX_FRAME_BYTES

/** Refused before anything is sent: the frame breaks the framing rules. */
export type ChannelErrorCode = 'FRAME_TOO_LARGE' | 'FRAME_EMPTY'

export class ChannelError extends Error {
  override readonly name = 'ChannelError'
  constructor(
    readonly code: ChannelErrorCode,
    readonly data: { readonly peer: string; readonly length?: number; readonly max?: number },
    message: string,
  ) {
    super(message)
  }
}

/** How a channel ended: `reason` is set when it did not end cleanly (or the local side gave one). */
export interface ChannelEnd {
  readonly reason?: string
  /** True when this side closed it (close() or a local protocol violation such as an oversized frame). */
  readonly local: boolean
  /** The peer broke the framing (a length prefix over the limit, or unparsable): the stream was reset. */
  readonly violation?: boolean
}

export interface StreamChannel extends PeerChannel {
  /** Settles once, when the channel is finished for both directions. */
  readonly ended: Promise<ChannelEnd>
  readonly stream: Stream
}

export interface StreamChannelOptions {
  /** The remote peer's name as the engine sees it (its libp2p peer id). */
  readonly peer: string
  readonly maxFrameLength?: number
  /** Frames buffered for the consumer before the stream is paused. */
  readonly highWaterMark?: number
  /** A graceful close that has not finished after this long becomes an abort. */
  readonly closeTimeoutMs?: number
  /** `send` waits while more than this many bytes wait in the stream's write buffer. */
  readonly maxWriteBuffer?: number
  /**
   * Frames sent during one turn of the event loop go to the stream as one write, unless they
   * reach this many bytes first (then they go at once). Default 64 KiB.
   */
  readonly coalesceBytes?: number
}

export interface StreamChannelDeps {
  readonly stream: Stream
  /** Byte accounting (frames and their prefixes), for metrics. */
  readonly onBytes?: (direction: 'in' | 'out', bytes: number) => void
}

/** Runs `task` once the current task and its microtasks are done (setImmediate where there is one). */
const afterThisTask: (task: () => void) => void =
  typeof setImmediate === 'function'
    ? (task) => void setImmediate(task)
    : (() => {
        // Browsers: a message to ourselves is a new task, without setTimeout's clamping.
        const tasks: (() => void)[] = []
        const channel = new MessageChannel()
        channel.port1.onmessage = () => tasks.shift()?.()
        return (task: () => void) => {
          tasks.push(task)
          channel.port2.postMessage(null)
        }
      })()

function encodeVarint(value: number): Uint8Array {
  const out: number[] = []
  let v = value
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80)
    v >>>= 7
  }
  out.push(v)
  return Uint8Array.from(out)
}

export function createStreamChannel(options: StreamChannelOptions, deps: StreamChannelDeps): StreamChannel {
  const { stream } = deps
  const { peer } = options
  const maxFrameLength = options.maxFrameLength ?? MAX_FRAME_LENGTH
  const highWaterMark = options.highWaterMark ?? 256
  const lowWaterMark = Math.floor(highWaterMark / 2)
  const closeTimeoutMs = options.closeTimeoutMs ?? 2_000
  const maxWriteBuffer = options.maxWriteBuffer ?? 256 * 1024
  const coalesceBytes = options.coalesceBytes ?? 64 * 1024

  // maxDataLength bounds each frame (checked on its length prefix); one 'message' event may carry
  // many frames at once (a muxer hands over what its window let through), so the decoder's buffer
  // limit is only a backstop above the largest chunk a muxer delivers.
  const decoder = new LengthPrefixedDecoder({
    maxDataLength: maxFrameLength,
    maxBufferSize: 32 * 1024 * 1024,
  })
  const queue: Uint8Array[] = []
  let readEnded = false
  let paused = false
  let wake: (() => void) | undefined
  let endInfo: ChannelEnd | undefined
  let resolveEnded!: (end: ChannelEnd) => void
  const ended = new Promise<ChannelEnd>((resolve) => {
    resolveEnded = resolve
  })

  const notify = () => {
    const w = wake
    wake = undefined
    w?.()
  }
  const finishRead = () => {
    if (readEnded) return
    readEnded = true
    notify()
  }
  const finish = (end: ChannelEnd) => {
    endInfo ??= end
    finishRead()
    cleanup()
    resolveEnded(endInfo)
  }

  const onMessage = (evt: StreamMessageEvent) => {
    const data = evt.data
    deps.onBytes?.('in', data.byteLength)
    if (readEnded) return
    try {
      for (const frame of decoder.decode(data)) queue.push(frame.subarray())
    } catch (e) {
      const reason = `bad frame from ${peer}: ${(e as Error).message}`
      log(reason)
      endInfo ??= { reason, local: true, violation: true }
      stream.abort(new ChannelError('FRAME_TOO_LARGE', { peer, max: maxFrameLength }, reason))
      return
    }
    if (!paused && queue.length >= highWaterMark) {
      paused = true
      stream.pause()
    }
    notify()
  }
  const onRemoteCloseWrite = () => finishRead()
  const onClose = (evt: StreamCloseEvent) => {
    finish(
      evt.error ? { reason: evt.error.message, local: evt.local === true } : { local: evt.local === true },
    )
  }
  const cleanup = () => {
    stream.removeEventListener('message', onMessage)
    stream.removeEventListener('remoteCloseWrite', onRemoteCloseWrite)
    stream.removeEventListener('close', onClose)
  }
  // While paused, what the muxer already let the peer send waits in the stream's read buffer: yamux
  // lets a peer run up to its 16 MiB window ahead, over the stream's 4 MiB default (which would reset
  // the stream). Bounded by the window either way; the engine's own window keeps it far lower.
  stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, 17 * 1024 * 1024)
  stream.addEventListener('message', onMessage)
  stream.addEventListener('remoteCloseWrite', onRemoteCloseWrite)
  stream.addEventListener('close', onClose)
  if (stream.status !== 'open') finish({ reason: `stream is ${stream.status}`, local: false })
  else if (stream.remoteWriteStatus !== 'writable') finishRead()

  /**
   * Backpressure on sends: resolves once the stream's write buffer is under `maxWriteBuffer`.
   * (`send() === false` then `onDrain()` is not enough: a muxer may emit 'drain' while its window to
   * the peer is still shut, and the buffer would grow without bound.)
   */
  const waitForRoom = async (): Promise<void> => {
    while (stream.writeBufferLength > maxWriteBuffer) {
      if (endInfo || stream.writeStatus !== 'writable')
        throw new ChannelClosedError(endInfo?.reason ?? `stream is ${stream.writeStatus}`)
      await new Promise<void>((resolve) => {
        const done = () => {
          stream.removeEventListener('drain', done)
          stream.removeEventListener('idle', done)
          stream.removeEventListener('close', done)
          resolve()
        }
        stream.addEventListener('drain', done)
        stream.addEventListener('idle', done)
        stream.addEventListener('close', done)
      })
    }
  }

  // Live replication is many small frames: each write to the stream is a muxer frame, an
  // encryption and a transport message (a WebSocket message, a socket write), so the frames of one
  // turn go together.
  let pending: Uint8Array[] = []
  let pendingBytes = 0
  let flushQueued = false
  const flush = () => {
    flushQueued = false
    if (pending.length === 0) return
    const bytes = new Uint8Array(pendingBytes)
    let at = 0
    for (const part of pending) {
      bytes.set(part, at)
      at += part.byteLength
    }
    pending = []
    pendingBytes = 0
    if (stream.writeStatus !== 'writable') return // closing: what was not written is lost with the stream
    try {
      stream.send(bytes)
    } catch (e) {
      log('write to %s failed: %s', peer, (e as Error).message)
    }
  }

  async function* frames(): AsyncGenerator<Uint8Array> {
    while (true) {
      const frame = queue.shift()
      if (frame) {
        if (paused && queue.length <= lowWaterMark && stream.status === 'open') {
          paused = false
          stream.resume()
        }
        yield frame
        continue
      }
      if (readEnded) return
      await new Promise<void>((resolve) => {
        wake = resolve
      })
    }
  }
  const iterable: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => frames() }

  return {
    peer,
    stream,
    ended,
    frames: iterable,
    async send(frame: Uint8Array): Promise<void> {
      if (frame.byteLength > maxFrameLength)
        throw new ChannelError(
          'FRAME_TOO_LARGE',
          { peer, length: frame.byteLength, max: maxFrameLength },
          `frame of ${frame.byteLength} bytes exceeds ${maxFrameLength}`,
        )
      if (frame.byteLength === 0)
        throw new ChannelError('FRAME_EMPTY', { peer, length: 0 }, 'frames must not be empty')
      if (endInfo || stream.writeStatus !== 'writable')
        throw new ChannelClosedError(endInfo?.reason ?? `stream is ${stream.writeStatus}`)
      const prefix = encodeVarint(frame.byteLength)
      pending.push(prefix, frame)
      pendingBytes += prefix.byteLength + frame.byteLength
      deps.onBytes?.('out', prefix.byteLength + frame.byteLength)
      if (pendingBytes >= coalesceBytes) {
        flush()
        await waitForRoom()
      } else if (!flushQueued) {
        flushQueued = true
        afterThisTask(flush)
      }
      if (stream.writeBufferLength > maxWriteBuffer) await waitForRoom()
    },
    close(reason?: string): void {
      if (endInfo) return
      endInfo = reason === undefined ? { local: true } : { reason, local: true }
      log('closing channel to %s%s', peer, reason ? ` (${reason})` : '')
      finishRead()
      if (stream.status !== 'open') return
      flush()
      const timer = setTimeout(() => stream.abort(new Error(reason ?? 'close timed out')), closeTimeoutMs)
      stream.close().then(
        () => clearTimeout(timer),
        (e: unknown) => {
          clearTimeout(timer)
          stream.abort(e as Error)
        },
      )
    },
  }
}
