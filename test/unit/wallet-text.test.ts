import { describe, expect, it } from 'vitest'
import {
  describeJoinError,
  describeJoinFailure,
  failedBeforeSending,
  joinSteps,
} from '../../src/app/join/join-text'
import {
  describeSendError,
  describeStage,
  formatAmount,
  formatTime,
  pageOf,
  parseAmount,
  sortedAccounts,
  stageState,
} from '../../src/app/wallet/wallet-text'
import { readInviteLink } from '../../src/runtime/join-client'

describe('wallet form: amounts and send errors', () => {
  it('formats amounts and times as toLocaleString and toLocaleTimeString do (one formatter each)', () => {
    for (const n of [0, 1, 999, 1000, 1_234_567, Number.MAX_SAFE_INTEGER])
      expect(formatAmount(n)).toBe(n.toLocaleString('en-US', { maximumFractionDigits: 0 }))
    expect(formatAmount(1_234_567)).toBe('1,234,567')
    for (const t of [0, 1_000_000_000_000, 1_763_700_000_000, 1_763_743_210_987])
      expect(formatTime(t)).toBe(new Date(t).toLocaleTimeString())
  })

  it('parses only whole numbers (anything else is NaN, which the wallet refuses)', () => {
    expect(parseAmount(' 42 ')).toBe(42)
    expect(parseAmount('0')).toBe(0)
    for (const bad of ['', '1.5', '-3', '1e3', 'abc', '0x10', '12 3']) expect(parseAmount(bad)).toBeNaN()
  })

  it('says what is wrong with each refused transfer', () => {
    expect(describeSendError({ code: 'RECIPIENT_INVALID', recipient: '' })).toMatch(/^Enter the recipient/)
    expect(describeSendError({ code: 'RECIPIENT_INVALID', recipient: 'bob' })).toMatch(
      /"bob" is not an account id/,
    )
    expect(describeSendError({ code: 'AMOUNT_INVALID', amount: 0 }, '')).toMatch(/^Enter an amount/)
    expect(describeSendError({ code: 'AMOUNT_INVALID', amount: 0 }, '0')).toMatch(/must be greater than 0/)
    expect(describeSendError({ code: 'AMOUNT_INVALID', amount: Number.NaN }, '1.5')).toMatch(
      /whole number greater than 0 \(you entered "1.5"\)/,
    )
    expect(describeSendError({ code: 'INSUFFICIENT_BALANCE', available: 10_000, amount: 20_000 })).toMatch(
      /at most 10,000 now: 20,000 is more than your available balance/,
    )
    expect(describeSendError({ code: 'SUBMIT_REFUSED', reason: 'QUEUE_FULL' })).toMatch(/refused.*QUEUE_FULL/)
  })
})

describe('transfer stages', () => {
  it('marks each stage done, current, to come or failed', () => {
    const submitted = { stage: 'submitted', at: 1 } as const
    const executed = { stage: 'executed', height: 7, at: 2 } as const
    const sealed = { stage: 'sealed', height: 7, at: 3 } as const
    const failed = { stage: 'failed', height: 7, code: 'BAD_NONCE', reason: 'out of order', at: 2 } as const
    expect(['submitted', 'executed', 'sealed'].map((s) => stageState(submitted, s as never))).toEqual([
      'current',
      'todo',
      'todo',
    ])
    expect(['submitted', 'executed', 'sealed'].map((s) => stageState(executed, s as never))).toEqual([
      'done',
      'current',
      'todo',
    ])
    expect(['submitted', 'executed', 'sealed'].map((s) => stageState(sealed, s as never))).toEqual([
      'done',
      'done',
      'done',
    ])
    expect(['submitted', 'executed', 'sealed'].map((s) => stageState(failed, s as never))).toEqual([
      'done',
      'failed',
      'failed',
    ])
    expect(describeStage(sealed)).toBe('Sealed in block 7: final')
    expect(describeStage(failed)).toBe('Failed in block 7: out of order')
  })
})

describe('accounts list', () => {
  it('sorts by balance and pages, clamping the page', () => {
    const accounts = sortedAccounts(
      new Map(Array.from({ length: 23 }, (_, i) => [`@${String(i).padStart(2, '0')}`, i % 5])),
    )
    expect(accounts[0]!.balance).toBe(4)
    const last = pageOf(accounts, 9, 10)
    expect(last).toMatchObject({ page: 2, pages: 3, from: 21, to: 23, total: 23 })
    expect(pageOf([], 0, 10)).toMatchObject({ page: 0, pages: 1, from: 0, to: 0, total: 0 })
  })
})

describe('join progress', () => {
  const states = (m: Parameters<typeof joinSteps>[0], connected = true) =>
    joinSteps(m, connected).map((s) => `${s.id}:${s.state}`)

  it('follows connected → sent → registered → scheduled → active', () => {
    expect(states({ state: 'not-a-member' }, false)[0]).toBe('connected:current')
    expect(states({ state: 'joining', relay: 'http://r' })).toEqual([
      'connected:done',
      'sent:current',
      'registered:todo',
      'scheduled:todo',
      'active:todo',
    ])
    expect(states({ state: 'registered', relay: 'http://r', item: 'x' }).slice(1, 3)).toEqual([
      'sent:done',
      'registered:current',
    ])
    const scheduled = joinSteps({ state: 'scheduled', height: 4, activeFrom: 7 }, true)
    expect(scheduled[3]).toMatchObject({ state: 'current', label: 'Admitted: active from block 7' })
    expect(states({ state: 'active', activeFrom: 7 }).every((s) => s.endsWith(':done'))).toBe(true)
  })

  it('marks the step a join failed at, and says nothing was sent for a link that does not work', () => {
    const refused = {
      state: 'join-failed',
      code: 'JOIN_REFUSED',
      reason: 'INVITE_EXHAUSTED: used up',
      error: { code: 'JOIN_REFUSED', status: 403, refusal: 'INVITE_EXHAUSTED', reason: 'used up' },
    } as const
    expect(joinSteps(refused, true)[1]).toMatchObject({
      state: 'failed',
      label: 'Join request refused',
      detail: 'INVITE_EXHAUSTED: used up',
    })
    expect(describeJoinFailure(refused)).toBe('The relay refused the join request: INVITE_EXHAUSTED: used up')
    expect(failedBeforeSending(refused)).toBe(false)
    const unreachable = joinSteps(
      { state: 'join-failed', code: 'JOIN_UNREACHABLE', reason: 'timeout' },
      false,
    )
    expect(unreachable.map((s) => s.state)).toEqual(['done', 'failed', 'todo', 'todo', 'todo'])
    expect(unreachable[1]!.label).toBe('Relay not reachable')
    const admission = { state: 'join-failed', code: 'ADMISSION_FAILED', reason: 'expired' } as const
    expect(joinSteps(admission, true).map((s) => s.state)).toEqual(['done', 'done', 'failed', 'todo', 'todo'])
    expect(describeJoinFailure(admission)).toMatch(/admission failed: expired/)
    const malformed = {
      state: 'join-failed',
      code: 'INVITE_MALFORMED',
      reason: 'join is not an invite id',
    } as const
    expect(failedBeforeSending(malformed)).toBe(true)
    expect(
      describeJoinFailure({ ...malformed, error: { code: 'INVITE_MALFORMED', reason: malformed.reason } }),
    ).toMatch(/^This is not a valid invite link/)
  })

  it('words the link errors', () => {
    const network = `%${'A'.repeat(43)}=.sha256`
    const malformed = readInviteLink('http://r/?join=nope&network=x', network)
    expect(malformed.ok).toBe(false)
    if (!malformed.ok) {
      expect(malformed.error.code).toBe('INVITE_MALFORMED')
      expect(describeJoinError(malformed.error)).toMatch(/^This is not a valid invite link \(join is not/)
    }
    const other = `%${'A'.repeat(42)}E=.sha256`
    const wrong = readInviteLink(
      `http://r/?${new URLSearchParams({ join: 'A'.repeat(22), network: other })}`,
      network,
    )
    expect(wrong.ok || wrong.error.code).toBe('INVITE_WRONG_NETWORK')
    if (!wrong.ok)
      expect(describeJoinError(wrong.error, { name: 'demo', id: network })).toMatch(
        /for another network, not for "demo"/,
      )
    expect(
      describeJoinError({ code: 'JOIN_REFUSED', status: 403, refusal: 'INVITE_REVOKED', reason: 'revoked' }),
    ).toBe('The relay refused the join request: INVITE_REVOKED: revoked')
  })
})
