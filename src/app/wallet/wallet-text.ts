/**
 * What the wallet shows, as sentences a person can act on: the send form's errors (the wallet's
 * typed SendError), a transfer's stage, amounts, short ids, and the paging of the accounts list.
 * Pure (no Svelte, no DOM), so the unit tests read exactly what the page says.
 */
import type { SendError, SentTransfer, TransferStatus } from '../../runtime/wallet'

/** Digits only (optional surrounding spaces): anything else is NaN, which the wallet refuses. */
export function parseAmount(text: string): number {
  const trimmed = text.trim()
  return /^[0-9]+$/.test(trimmed) ? Number(trimmed) : Number.NaN
}

// One formatter for the page: toLocaleString builds a new one per call, and the wallet formats
// every shown amount on each refresh (a measurable share of a busy tab's main thread).
const AMOUNT_FORMAT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })

/** Thousands separators, no decimals: balances and amounts are whole units. */
export function formatAmount(amount: number): string {
  return AMOUNT_FORMAT.format(amount)
}

// What Date#toLocaleTimeString() shows (the page's locale, hours to seconds), with one formatter.
const TIME_FORMAT = new Intl.DateTimeFormat(undefined, {
  hour: 'numeric',
  minute: 'numeric',
  second: 'numeric',
})

/** The time of day of a timestamp (ms), as the page's locale writes it. */
export function formatTime(timestamp: number): string {
  return TIME_FORMAT.format(timestamp)
}

/** `@abcdefgh…xyz.ed25519`: enough to tell accounts apart at a glance. */
export function shortId(id: string): string {
  return id.length > 20 ? `${id.slice(0, 10)}…${id.slice(-12)}` : id
}

/**
 * The send form's message for a refused transfer. `amountText` is what the person typed (the
 * wallet only sees the parsed number, NaN for text that is not a whole number).
 */
export function describeSendError(error: SendError, amountText?: string): string {
  switch (error.code) {
    case 'RECIPIENT_INVALID':
      return error.recipient.trim() === ''
        ? 'Enter the recipient: the validator id of the account to pay (it starts with @ and ends with .ed25519).'
        : `"${clip(error.recipient)}" is not an account id. An account id starts with @ and ends with .ed25519, like the ids in the list of accounts below.`
    case 'AMOUNT_INVALID': {
      const typed = amountText?.trim() ?? String(error.amount)
      if (typed === '') return 'Enter an amount: a whole number greater than 0.'
      if (typeof error.amount === 'number' && Number.isSafeInteger(error.amount) && error.amount <= 0)
        return `The amount must be greater than 0 (you entered ${clip(typed)}).`
      return `The amount must be a whole number greater than 0 (you entered "${clip(typed)}"): there are no fractions of a unit.`
    }
    case 'INSUFFICIENT_BALANCE':
      return `You can send at most ${formatAmount(error.available)} now: ${formatAmount(error.amount)} is more than your available balance (your balance minus the transfers still on their way).`
    case 'SUBMIT_REFUSED':
      return `Your validator refused the transfer: ${error.reason}. Nothing was sent.`
  }
}

export type StageName = TransferStatus['stage']

/** The stages a transfer passes, in order (failed replaces executed and sealed). */
export const TRANSFER_STAGES: readonly StageName[] = ['submitted', 'executed', 'sealed']

/** One line on where a transfer stands. */
export function describeStage(status: TransferStatus): string {
  switch (status.stage) {
    case 'submitted':
      return 'Submitted to your validator, waiting for a block'
    case 'executed':
      return `Executed in block ${status.height}, waiting for the seal`
    case 'sealed':
      return `Sealed in block ${status.height}: final`
    case 'failed':
      return `Failed in block ${status.height}: ${status.reason}`
  }
}

/** Whether `stage` is done, current or still to come for a transfer at `status`. */
export function stageState(status: TransferStatus, stage: StageName): 'done' | 'current' | 'todo' | 'failed' {
  if (status.stage === 'failed') return stage === 'submitted' ? 'done' : 'failed'
  const at = TRANSFER_STAGES.indexOf(status.stage)
  const of = TRANSFER_STAGES.indexOf(stage)
  if (of < at) return 'done'
  if (of === at) return status.stage === 'sealed' ? 'done' : 'current'
  return 'todo'
}

/** Newest first. */
export function newestFirst(transfers: readonly SentTransfer[]): SentTransfer[] {
  return [...transfers].sort((a, b) => b.submittedAt - a.submittedAt || b.nonce - a.nonce)
}

export interface Page<T> {
  readonly rows: readonly T[]
  /** 0-based, clamped to the pages there are. */
  readonly page: number
  readonly pages: number
  /** 1-based positions of the first and last row shown (0, 0 when empty). */
  readonly from: number
  readonly to: number
  readonly total: number
}

export function pageOf<T>(all: readonly T[], page: number, size: number): Page<T> {
  const pages = Math.max(1, Math.ceil(all.length / size))
  const p = Math.min(Math.max(0, Math.floor(page)), pages - 1)
  const rows = all.slice(p * size, p * size + size)
  return {
    rows,
    page: p,
    pages,
    from: rows.length === 0 ? 0 : p * size + 1,
    to: p * size + rows.length,
    total: all.length,
  }
}

/** Accounts by balance (highest first), then id; the owner's own account is marked by the caller. */
export function sortedAccounts(balances: ReadonlyMap<string, number>): { id: string; balance: number }[] {
  return [...balances]
    .map(([id, balance]) => ({ id, balance }))
    .sort((a, b) => b.balance - a.balance || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

function clip(text: string): string {
  return text.length > 48 ? `${text.slice(0, 48)}…` : text
}
