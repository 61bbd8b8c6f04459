/**
 * The tab's validator, live: the consensus runtime and wallet of the session, the join flow of an
 * invite link (POST /api/join to the link's relay, then the admission's progress), and one status
 * object that the UI and the automation API (`window.blockfin`) both read.
 */
import createDebug from 'debug'
import type { FeedId } from '../core/identity/ids'
import { ok, type Result } from '../core/result'
import type { Clock } from '../net/replication/rate-limit'
import { type BlockIndex, followRuntime, type StageHeights } from '../runtime/block-index'
import type { ConsensusRuntime, RuntimeEvent } from '../runtime/consensus-runtime'
import type { GenesisError } from '../runtime/genesis'
import { admissionProgress, type JoinError, readInviteLink, requestJoin } from '../runtime/join-client'
import type { Wallet } from '../runtime/wallet'
import type { ValidatorSession } from './validator-session'

const log = createDebug('blockfin:app:validator')

/** Where this identity stands in the validator set. */
export type MembershipView =
  | { readonly state: 'not-a-member' }
  | { readonly state: 'joining'; readonly relay: string }
  | { readonly state: 'registered'; readonly relay: string; readonly item: string }
  | { readonly state: 'scheduled'; readonly height: number; readonly activeFrom: number }
  | { readonly state: 'active'; readonly activeFrom: number | undefined }
  /**
   * The last join attempt failed: `code` is the JoinError's code (or ADMISSION_FAILED when the relay
   * accepted the request but the admission failed), `error` the whole JoinError when there is one.
   */
  | {
      readonly state: 'join-failed'
      readonly code: string
      readonly reason: string
      readonly error?: JoinError
    }

export interface LiveStatus {
  readonly identity: FeedId
  readonly membership: MembershipView
  /** Validator set of the next height: size, tolerated faults, quorum. */
  readonly validators: { readonly n: number; readonly f: number; readonly q: number }
  /** Highest height reached in each stage, as this tab saw it (block index). */
  readonly heights: StageHeights & { readonly executed: number }
  readonly balance: number
  readonly available: number
}

export interface LiveValidator {
  readonly runtime: ConsensusRuntime
  readonly wallet: Wallet
  /** The blocks this tab saw: stages, transactions, results and checked quorum certificates. */
  readonly blocks: BlockIndex
  status(): LiveStatus
  subscribe(listener: (status: LiveStatus) => void): () => void
  /** Every consensus event, as it happens. */
  onEvent(listener: (event: RuntimeEvent) => void): () => void
  /** Joins with an invite link (the page's own URL when it carries ?join=). */
  join(link: string): Promise<Result<MembershipView, JoinError>>
  stop(): Promise<void>
}

export interface LiveValidatorDeps {
  readonly session: ValidatorSession
  readonly clock: Clock
  readonly fetch: typeof fetch
  /** Run before the runtime replays the store (indexes that must see the replay). */
  readonly attach?: (runtime: ConsensusRuntime) => void
}

const POLL_MS = 1000
/** The most often status listeners hear of a change. */
const STATUS_MS = 100

export async function startLiveValidator(
  deps: LiveValidatorDeps,
): Promise<Result<LiveValidator, GenesisError>> {
  const { session, clock } = deps
  let follower: ReturnType<typeof followRuntime> | undefined
  const parts = await session.startConsensus({
    clock,
    attach: (rt) => {
      follower = followRuntime(rt, { networkId: session.network.network.id })
      deps.attach?.(rt)
    },
  })
  if (!parts.ok) return parts
  const { runtime, wallet } = parts.value
  const blocks = follower!.index
  blocks.recheck()
  const identity = session.identity
  const listeners = new Set<(s: LiveStatus) => void>()
  let joinView: MembershipView | undefined
  let stopped = false
  let poll: unknown
  /** Bumped by every join attempt: a poll of an earlier attempt no longer changes the view. */
  let attempt = 0

  const membership = (): MembershipView => {
    const m = runtime.view.membership
    const latest = m.latest()
    if (latest.set.validatorSet.has(identity)) {
      const executed = m.executedHeight
      // Admitted, but the set it joined applies from a later height.
      if (latest.from > executed + 1 && !m.setAt(executed + 1)?.validatorSet.has(identity))
        return {
          state: 'scheduled',
          height: latest.from - runtime.view.genesis.params.membershipDelay,
          activeFrom: latest.from,
        }
      return {
        state: 'active',
        activeFrom: joinView && 'activeFrom' in joinView ? joinView.activeFrom : undefined,
      }
    }
    return joinView ?? { state: 'not-a-member' }
  }

  const status = (): LiveStatus => {
    const s = runtime.status()
    const set = runtime.view.membership.latest().set
    return {
      identity,
      membership: membership(),
      validators: { n: set.n, f: set.f, q: set.q },
      heights: { ...blocks.heights(), executed: s.executedHeight },
      balance: wallet.balance(),
      available: wallet.available(),
    }
  }

  // At most one status per STATUS_MS: at full load every block and every transfer changes it, and
  // computing and rendering it each time would take the main thread from the validator.
  let queued = false
  const changed = () => {
    if (queued || stopped) return
    queued = true
    clock.setTimeout(() => {
      queued = false
      if (stopped) return
      const s = status()
      for (const l of listeners) l(s)
    }, STATUS_MS)
  }
  const offEvents = runtime.onEvent((e) => {
    if (e.type === 'executed' || e.type === 'sealed' || e.type === 'decided') changed()
  })
  const offWallet = wallet.subscribe(changed)

  const failed = (error: JoinError): MembershipView => {
    log('joining failed: %o', error)
    return {
      state: 'join-failed',
      code: error.code,
      reason: error.code === 'JOIN_REFUSED' ? `${error.refusal}: ${error.reason}` : error.reason,
      error,
    }
  }

  const pollAdmission = (relay: string) => {
    const mine = attempt
    const tick = async () => {
      poll = undefined
      if (stopped || mine !== attempt) return
      const progress = await admissionProgress(relay, identity, deps)
      if (mine !== attempt) return
      if (progress?.status === 'admitted') {
        joinView = { state: 'scheduled', height: progress.height, activeFrom: progress.activeFrom }
        changed()
        return
      }
      if (progress?.status === 'failed') {
        joinView = { state: 'join-failed', code: 'ADMISSION_FAILED', reason: progress.reason }
        changed()
        return
      }
      if (!stopped) poll = clock.setTimeout(() => void tick(), POLL_MS)
    }
    void tick()
  }

  const live: LiveValidator = {
    runtime,
    wallet,
    blocks,
    status,
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    onEvent: (listener) => runtime.onEvent(listener),
    async join(text) {
      const current = membership()
      const member = current.state === 'active' || current.state === 'scheduled'
      const link = readInviteLink(text, session.network.network.id)
      if (!link.ok) {
        // A member keeps its membership; anyone else sees why the link does not work.
        if (!member) {
          attempt++
          joinView = failed(link.error)
          changed()
        }
        return link
      }
      if (member) return ok(current)
      const mine = ++attempt
      if (poll !== undefined) clock.clearTimeout(poll)
      poll = undefined
      joinView = { state: 'joining', relay: link.value.relay }
      changed()
      const sent = await requestJoin(link.value, await session.joinRequest(link.value.invite), deps)
      if (mine !== attempt) return sent.ok ? ok(membership()) : sent
      if (!sent.ok) {
        joinView = failed(sent.error)
        changed()
        return sent
      }
      joinView = { state: 'registered', relay: link.value.relay, item: sent.value.item }
      changed()
      pollAdmission(link.value.relay)
      return ok(joinView)
    },
    async stop() {
      stopped = true
      if (poll !== undefined) clock.clearTimeout(poll)
      offEvents()
      offWallet()
      follower?.stop()
      await runtime.stop()
    },
  }
  return ok(live)
}

/** The tab's live validator of the moment (replaced when the identity changes), for the UI to follow. */
export interface LiveSlot {
  current(): LiveValidator | undefined
  set(live: LiveValidator | undefined): void
  subscribe(listener: (live: LiveValidator | undefined) => void): () => void
}

export function createLiveSlot(): LiveSlot {
  let live: LiveValidator | undefined
  const listeners = new Set<(live: LiveValidator | undefined) => void>()
  return {
    current: () => live,
    set(next) {
      live = next
      for (const l of listeners) l(next)
    },
    subscribe(listener) {
      listeners.add(listener)
      listener(live)
      return () => listeners.delete(listener)
    },
  }
}
