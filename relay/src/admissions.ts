/**
 * Admitting validators through invites (issue 5, docs/relay-api.md "Joining"). The relay holds the
 * network's admin key; for each participant whose join request it accepted it signs a membership
 * item (`member`, add validator, the admin's next nonce) and a welcome transfer from the admin
 * account (so a new participant can send transfers at once), and submits both to its own validator,
 * like any client submits to a validator. The item takes effect K blocks after the block that
 * executes it: that height is announced as `activeFrom`.
 *
 * Admin nonces must execute in order, so admissions go in batches: the owners waiting are signed
 * with consecutive nonces into one submission, and the next batch starts once every item of the
 * previous one has executed. State is rebuilt after a restart from what the runtime replays: the
 * items in transaction feeds and the `executed` events.
 */
import createDebug from 'debug'
import { type ConsensusGenesis, checkMemberItem, createMemberItem, txItemsOf } from '../../src/core/consensus'
import type { Ed25519Backend } from '../../src/core/crypto/ed25519'
import type { FeedId } from '../../src/core/identity/ids'
import type { KeyPair } from '../../src/core/identity/keys'
import { createTransfer, type PaymentsState } from '../../src/core/ledger/payments'
import { itemId } from '../../src/core/ledger/signed-item'
import type { Digest } from '../../src/core/merkle'
import { err, ok, type Result } from '../../src/core/result'
import type { ConsensusRuntime } from '../../src/runtime/consensus-runtime'

const log = createDebug('blockfin:relay:admissions')

/** What a participant admitted through an invite receives from the admin account. */
export const WELCOME_GRANT = 10_000

export type AdmissionState =
  | { readonly status: 'pending'; readonly owner: FeedId; readonly item?: Digest }
  | {
      readonly status: 'admitted'
      readonly owner: FeedId
      readonly item?: Digest
      /** The height of the block that executed the membership item (0: a genesis validator). */
      readonly height: number
      /** Its votes count from this height on. */
      readonly activeFrom: number
    }
  | { readonly status: 'failed'; readonly owner: FeedId; readonly item: Digest; readonly reason: string }

export type AdmitError =
  | { readonly code: 'ADMISSIONS_UNAVAILABLE'; readonly reason: string }
  | { readonly code: 'SUBMIT_REFUSED'; readonly reason: string }

export interface AdmissionsOptions {
  readonly admin: KeyPair
  readonly genesis: ConsensusGenesis
  readonly networkKey: Uint8Array
  readonly grant?: number
}

export interface AdmissionsDeps {
  /** The relay's own validator: admissions are submitted to it. */
  readonly validator: ConsensusRuntime
  readonly ed25519: Ed25519Backend
}

export interface Admissions {
  /** Queues `owner` for admission; resolves once its membership item is durable in a transaction feed. */
  admit(owner: FeedId): Promise<Result<AdmissionState, AdmitError>>
  admission(owner: FeedId): AdmissionState | undefined
  /** Owners admitted (or genesis validators), by the height their votes count from. */
  admitted(): readonly { owner: FeedId; activeFrom: number }[]
}

interface Waiting {
  readonly owner: FeedId
  readonly resolve: (r: Result<AdmissionState, AdmitError>) => void
}

/**
 * Listens to the validator runtime from before its replay (call `attach` in ConsensusRuntime.start's
 * attach hook), so the state of admissions survives a restart.
 */
export function createAdmissions(options: AdmissionsOptions, deps: Omit<AdmissionsDeps, 'validator'>) {
  const { admin, genesis, networkKey } = options
  const grant = options.grant ?? WELCOME_GRANT
  const delay = genesis.params.membershipDelay
  /** Member item id → owner, for items signed by this admin (learned from transaction feeds). */
  const itemOwner = new Map<Digest, FeedId>()
  const states = new Map<FeedId, AdmissionState>()
  for (const v of genesis.validators)
    states.set(v, { status: 'admitted', owner: v, height: 0, activeFrom: 1 })
  let runtime: ConsensusRuntime | undefined
  let waiting: Waiting[] = []
  /** Item ids of the batch in flight: the next batch waits until each has a result. */
  let inFlight = new Set<Digest>()

  const attach = (validator: ConsensusRuntime) => {
    runtime = validator
    validator.onMessage((message) => {
      const items = txItemsOf(message.value.content)
      if (!items) return
      for (const value of items) {
        const m = checkMemberItem(value)
        if (!m.ok || m.value.admin !== admin.id || m.value.action !== 'add' || m.value.kind !== 'validator')
          continue
        const id = itemId(m.value)
        itemOwner.set(id, m.value.owner)
        const s = states.get(m.value.owner)
        if (!s || s.status === 'failed')
          states.set(m.value.owner, { status: 'pending', owner: m.value.owner, item: id })
      }
    })
    validator.onEvent((event) => {
      if (event.type !== 'executed') return
      for (const r of event.results) {
        inFlight.delete(r.id)
        const owner = itemOwner.get(r.id)
        if (!owner) continue
        const current = states.get(owner)
        if (current?.status === 'admitted') continue
        if (r.ok) {
          states.set(owner, {
            status: 'admitted',
            owner,
            item: r.id,
            height: event.height,
            activeFrom: event.height + delay,
          })
          log('admitted %s at %d, active from %d', owner, event.height, event.height + delay)
        } else if (r.error.code === 'ALREADY_MEMBER') {
          // An earlier item of ours admitted it (a resubmission after a restart): keep that.
        } else {
          states.set(owner, { status: 'failed', owner, item: r.id, reason: r.error.code })
        }
      }
      if (inFlight.size === 0 && waiting.length > 0 && !event.replayed) void nextBatch()
    })
  }

  const nextBatch = async () => {
    if (!runtime || inFlight.size > 0 || waiting.length === 0) return
    const batch = waiting
    waiting = []
    const view = runtime.view
    const members = view.membership.latest().set.validatorSet
    const nonceBase = view.membership.adminNonce(admin.id)
    const account = (view.appState as PaymentsState | undefined)?.accounts.get(admin.id)
    let memberNonce = nonceBase
    let accountNonce = account?.nonce ?? 0
    const items = []
    const ours: { waiting: Waiting; item: Digest }[] = []
    for (const w of batch) {
      const known = states.get(w.owner)
      if (members.has(w.owner) || known?.status === 'admitted') {
        w.resolve(ok(known ?? { status: 'admitted', owner: w.owner, height: 0, activeFrom: 1 }))
        continue
      }
      const member = await createMemberItem(
        { admin, action: 'add', kind: 'validator', owner: w.owner, nonce: ++memberNonce },
        networkKey,
        deps.ed25519,
      )
      items.push(member)
      ours.push({ waiting: w, item: itemId(member) })
      if (grant > 0 && (account?.balance ?? 0) >= grant * (accountNonce - (account?.nonce ?? 0) + 1))
        items.push(
          await createTransfer(
            { keys: admin, to: w.owner, amount: grant, nonce: ++accountNonce },
            networkKey,
            deps.ed25519,
          ),
        )
    }
    if (items.length === 0) return
    inFlight = new Set(items.map((i) => itemId(i)))
    const outcome = await runtime.submit(items)
    for (const { waiting: w, item } of ours) {
      if (!outcome.accepted.includes(item)) {
        inFlight.delete(item)
        const reason = outcome.rejected.map((r) => r.code).join(', ') || 'not accepted'
        w.resolve(err({ code: 'SUBMIT_REFUSED', reason }))
        continue
      }
      itemOwner.set(item, w.owner)
      const state: AdmissionState = { status: 'pending', owner: w.owner, item }
      if (states.get(w.owner)?.status !== 'admitted') states.set(w.owner, state)
      w.resolve(ok(states.get(w.owner) ?? state))
    }
    for (const id of [...inFlight]) if (!outcome.accepted.includes(id)) inFlight.delete(id)
    log('submitted %d admission item(s)', items.length)
  }

  const admissions: Admissions = {
    admit(owner) {
      if (!runtime)
        return Promise.resolve(
          err({ code: 'ADMISSIONS_UNAVAILABLE', reason: 'this relay runs no validator' }),
        )
      const known = states.get(owner)
      if (known && known.status !== 'failed') return Promise.resolve(ok(known))
      return new Promise((resolve) => {
        waiting.push({ owner, resolve })
        void nextBatch()
      })
    },
    admission: (owner) => states.get(owner),
    admitted: () =>
      [...states.values()].flatMap((s) =>
        s.status === 'admitted' ? [{ owner: s.owner, activeFrom: s.activeFrom }] : [],
      ),
  }
  return { attach, admissions }
}
