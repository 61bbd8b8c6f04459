import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { WsConnection } from '../../relay/src/shared-port-websockets'

/** The part of a `ws` socket the connection uses, recording what is sent. */
function fakeSocket() {
  const sent: Uint8Array[] = []
  let closed = false
  const ws = {
    binaryType: 'arraybuffer',
    bufferedAmount: 0,
    send: (data: Uint8Array) => {
      sent.push(Uint8Array.from(data))
    },
    close: () => {
      closed = true
    },
    terminate: () => {},
    addEventListener: () => {},
  }
  return { ws, sent, closed: () => closed }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))
const connection = (ws: ReturnType<typeof fakeSocket>['ws']) =>
  new WsConnection({ ws, remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/1/ws'), log: logger('test:ws') })

describe('the relay’s WebSocket connection', () => {
  it('sends what one event-loop turn wrote as one WebSocket message, in order', async () => {
    const socket = fakeSocket()
    const conn = connection(socket.ws)
    // A noise message is two buffers (length prefix, ciphertext); three of them in one turn.
    for (let i = 0; i < 3; i++) conn.sendData(new Uint8ArrayList(Uint8Array.of(0, 2), Uint8Array.of(i, i)))
    expect(socket.sent).toHaveLength(0)
    await turn()
    expect(socket.sent).toEqual([Uint8Array.of(0, 2, 0, 0, 0, 2, 1, 1, 0, 2, 2, 2)])
    conn.sendData(new Uint8ArrayList(Uint8Array.of(9)))
    await turn()
    expect(socket.sent).toHaveLength(2)
    expect(socket.sent[1]).toEqual(Uint8Array.of(9))
  })

  it('sends what is pending before it closes', async () => {
    const socket = fakeSocket()
    const conn = connection(socket.ws)
    conn.sendData(new Uint8ArrayList(Uint8Array.of(1, 2, 3)))
    await conn.sendClose()
    expect(socket.sent).toEqual([Uint8Array.of(1, 2, 3)])
    expect(socket.closed()).toBe(true)
  })
})
