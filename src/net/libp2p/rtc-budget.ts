/**
 * Counts the RTCPeerConnections a tab creates and refuses new ones past a hard cap.
 *
 * Chromium lets a tab create at most 500 RTCPeerConnections over its lifetime; past that every new
 * one throws, and WebRTC is gone until the tab reloads. @libp2p/webrtc creates one per dial attempt
 * and one per incoming signaling stream, so the count must be watched where they are made: this
 * installs a counting subclass as `globalThis.RTCPeerConnection`. It must run before
 * @libp2p/webrtc is evaluated (it captures the global when its module loads), which is why the
 * browser node imports that package dynamically, after installing the budget.
 *
 * Installed once per realm (a second call returns the same budget, with the first call's cap).
 */
import createDebug from 'debug'

const log = createDebug('blockfin:net:rtc')

export interface RtcBudget {
  /** RTCPeerConnections created so far in this tab (dials and answers). */
  created(): number
  /** Past this many, creating one throws (so the tab never reaches Chromium's 500). */
  readonly hardCap: number
  /** How many more may be created. */
  remaining(): number
}

export class RtcBudgetExhaustedError extends Error {
  override readonly name = 'RtcBudgetExhaustedError'
  readonly code = 'RTC_BUDGET_EXHAUSTED'
  constructor(readonly data: { readonly created: number; readonly hardCap: number }) {
    super(`this tab already created ${data.created} RTCPeerConnections (cap ${data.hardCap})`)
  }
}

const KEY = Symbol.for('blockfin.rtcBudget')

export function installRtcBudget(options: { readonly hardCap: number }): RtcBudget | undefined {
  const scope = globalThis as unknown as Record<symbol, RtcBudget | undefined> & {
    RTCPeerConnection?: typeof RTCPeerConnection
  }
  const existing = scope[KEY]
  if (existing) return existing
  const Native = scope.RTCPeerConnection
  if (typeof Native !== 'function') return undefined
  let created = 0
  const hardCap = options.hardCap
  class CountedRTCPeerConnection extends Native {
    constructor(configuration?: RTCConfiguration) {
      if (created >= hardCap) throw new RtcBudgetExhaustedError({ created, hardCap })
      super(configuration)
      created++
      log('RTCPeerConnection #%d', created)
    }
  }
  const budget: RtcBudget = {
    created: () => created,
    hardCap,
    remaining: () => Math.max(0, hardCap - created),
  }
  scope.RTCPeerConnection = CountedRTCPeerConnection
  scope[KEY] = budget
  return budget
}
