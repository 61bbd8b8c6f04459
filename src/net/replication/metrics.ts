/** Counters of the replication engine, for the relay's /metrics and for tests (which assert on counts). */

export interface TrafficCounters {
  framesIn: number
  framesOut: number
  bytesIn: number
  bytesOut: number
  /** Texts received in data frames and handed to the store. */
  messagesReceived: number
  /** Texts the store accepted (verified and durable). */
  messagesStored: number
  /** Store outcomes other than ok, by code (FEED_DUPLICATE is benign: a message already held). */
  messagesRejected: Record<string, number>
  /** Texts dropped without reaching the store (a stale request's frames, or a refused frame). */
  messagesDropped: number
  /** Violations by the peer, by code (the code of the error frame sent to it). */
  violations: Record<string, number>
  /** Error frames received from the peer, by code. */
  errorsReceived: Record<string, number>
  wantsSent: number
  wantsReceived: number
}

export interface PeerMetrics extends TrafficCounters {
  readonly peer: string
  /** Data frames read from the channel (each was read only once the store had room for it). */
  dataFramesIn: number
  /** Data frames sent and not yet acknowledged, now and at most. */
  dataFramesInFlight: number
  maxDataFramesInFlight: number
  dataBytesInFlight: number
  maxDataBytesInFlight: number
  /** Data frames received and not yet committed by the store, at most. */
  maxPendingDataFrames: number
  /** Data frames received beyond what was acknowledged, at most (the receive window's use). */
  maxUnackedReceived: number
}

export interface ReplicationMetrics extends TrafficCounters {
  peersConnected: number
  sessionsOpened: number
  sessionsClosed: number
  /** Sessions closed by this side, by code (TOO_MANY_VIOLATIONS, WRONG_NETWORK, ...). */
  sessionsRefused: Record<string, number>
  requestTimeouts: number
  sourceSwitches: number
  perPeer: Record<string, PeerMetrics>
}

export const newTrafficCounters = (): TrafficCounters => ({
  framesIn: 0,
  framesOut: 0,
  bytesIn: 0,
  bytesOut: 0,
  messagesReceived: 0,
  messagesStored: 0,
  messagesRejected: {},
  messagesDropped: 0,
  violations: {},
  errorsReceived: {},
  wantsSent: 0,
  wantsReceived: 0,
})

export const newPeerMetrics = (peer: string): PeerMetrics => ({
  peer,
  ...newTrafficCounters(),
  dataFramesIn: 0,
  dataFramesInFlight: 0,
  maxDataFramesInFlight: 0,
  dataBytesInFlight: 0,
  maxDataBytesInFlight: 0,
  maxPendingDataFrames: 0,
  maxUnackedReceived: 0,
})

export const bump = (record: Record<string, number>, code: string, by = 1): void => {
  record[code] = (record[code] ?? 0) + by
}

/** Adds a peer's traffic counters into totals (kept when the peer leaves). */
export function addTraffic(into: TrafficCounters, from: TrafficCounters): void {
  into.framesIn += from.framesIn
  into.framesOut += from.framesOut
  into.bytesIn += from.bytesIn
  into.bytesOut += from.bytesOut
  into.messagesReceived += from.messagesReceived
  into.messagesStored += from.messagesStored
  into.messagesDropped += from.messagesDropped
  into.wantsSent += from.wantsSent
  into.wantsReceived += from.wantsReceived
  for (const [k, v] of Object.entries(from.messagesRejected)) bump(into.messagesRejected, k, v)
  for (const [k, v] of Object.entries(from.violations)) bump(into.violations, k, v)
  for (const [k, v] of Object.entries(from.errorsReceived)) bump(into.errorsReceived, k, v)
}

export const cloneTraffic = (c: TrafficCounters): TrafficCounters => ({
  ...c,
  messagesRejected: { ...c.messagesRejected },
  violations: { ...c.violations },
  errorsReceived: { ...c.errorsReceived },
})
