/**
 * Pacing of a validator's transaction messages (docs/protocol.md section 14), shared by the live
 * runtime (consensus-runtime.ts) and the simulator's node (src/sim/node.ts, which the in-process
 * consensus bench runs), so both make the same messages from the same submissions. Pure: the
 * caller passes the time in and sets the timer.
 */

/** Default pacing of transaction messages: adds at most this much to a transfer's latency. */
export const DEFAULT_TX_INTERVAL_MS = 100

export interface TxPacing {
  /** Least time between two groups while submissions keep coming; 0 paces nothing. */
  readonly intervalMs: number
  /** Items that fill one transaction message: a full group never waits. */
  readonly maxTxsPerMessage: number
}

/**
 * How long the waiting submissions should wait before they go to the core as one group: 0 for
 * at once. A first group after a quiet interval goes at once, so a lone transfer is never held.
 */
export function txGroupDelay(
  pacing: TxPacing,
  state: { readonly lastGroupAt: number; readonly waitingItems: number },
  now: number,
): number {
  if (pacing.intervalMs <= 0 || state.waitingItems >= pacing.maxTxsPerMessage) return 0
  return Math.max(0, state.lastGroupAt + pacing.intervalMs - now)
}
