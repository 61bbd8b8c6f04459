/**
 * From a network document (network.json, GET /api/network) to what the consensus core and the
 * payments ledger need. Every node of a network derives these from the same genesis, so they agree
 * on the registry, the parameters and the opening balances.
 */
import { type ConsensusGenesis, type ConsensusParams, checkGenesis, DEFAULT_PARAMS } from '../core/consensus'
import type { Sha256 } from '../core/crypto/hash'
import { type FeedId, isFeedId } from '../core/identity/ids'
import type { AppModule } from '../core/ledger/module'
import { createPaymentsLedger } from '../core/ledger/payments'
import { err, ok, type Result } from '../core/result'

export type GenesisError = { readonly code: 'GENESIS_INVALID'; readonly reason: string }

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)
const isFeedIdList = (v: unknown): v is FeedId[] => Array.isArray(v) && v.every(isFeedId)

const PARAM_KEYS = Object.keys(DEFAULT_PARAMS) as (keyof ConsensusParams)[]

/** The consensus genesis of a network: registry, admins and parameters (all checked). */
export function consensusGenesisOf(
  networkId: string,
  genesis: Record<string, unknown>,
): Result<ConsensusGenesis, GenesisError> {
  const invalid = (reason: string) => err({ code: 'GENESIS_INVALID' as const, reason })
  if (
    !isFeedIdList(genesis.validators) ||
    !isFeedIdList(genesis.messagenodes) ||
    !isFeedIdList(genesis.admins)
  )
    return invalid('validators, messagenodes and admins must be lists of feed ids')
  const p = genesis.params
  if (!isRecord(p)) return invalid('params must be an object')
  const keys = Object.keys(p).sort()
  if (keys.join() !== [...PARAM_KEYS].sort().join())
    return invalid(`params must have exactly the keys ${PARAM_KEYS.join(', ')}`)
  for (const k of PARAM_KEYS)
    if (typeof p[k] !== 'number' || !Number.isFinite(p[k]) || (p[k] as number) < 0)
      return invalid(`params.${k} must be a non-negative number`)
  const consensus: ConsensusGenesis = {
    networkId,
    validators: genesis.validators,
    messagenodes: genesis.messagenodes,
    admins: genesis.admins,
    params: p as unknown as ConsensusParams,
  }
  const problem = checkGenesis(consensus)
  if (problem) return invalid(problem)
  return ok(consensus)
}

/** The payments ledger with the genesis allocations (the network's first application module). */
export function paymentsOf(
  genesis: Record<string, unknown>,
  sha256?: Sha256,
): Result<AppModule<unknown, unknown>, GenesisError> {
  const allocations = genesis.allocations
  if (!isRecord(allocations)) return err({ code: 'GENESIS_INVALID', reason: 'allocations must be an object' })
  try {
    return ok(
      createPaymentsLedger({
        allocations: allocations as Record<string, number>,
        ...(sha256 ? { sha256 } : {}),
      }) as AppModule<unknown, unknown>,
    )
  } catch (e) {
    return err({ code: 'GENESIS_INVALID', reason: (e as Error).message })
  }
}
