/**
 * Fault scenarios, rotated by seed: every seed gets one main theme (so 12 consecutive seeds cover
 * every line of the guide's fault checklist) with details (which node, when, how much) drawn from
 * the seed's PRNG.
 */
import type { ConsensusParams } from '../core/consensus'
import { DEFAULT_PARAMS } from '../core/consensus'
import { CALM, type NetworkConditions } from './network'
import type { Prng } from './prng'

export type ValidatorBehaviour = 'equivocate' | 'fork' | 'withhold' | 'forge'
export type MessagenodeBehaviour = 'withhold' | 'censor' | 'lie' | 'gap'

export interface Scenario {
  readonly theme: string
  readonly validators: number
  readonly messagenodes: number
  readonly transfers: number
  /** Conditions until `healAt`; after it, CALM. */
  readonly conditions: NetworkConditions
  readonly byzantineValidators: readonly { index: number; behaviour: ValidatorBehaviour }[]
  readonly byzantineMessagenodes: readonly { index: number; behaviour: MessagenodeBehaviour }[]
  /** Groups of node indices (validators 0..n-1, Messagenodes n..n+m-1), from `at` to `healAt`. */
  readonly partition?: { at: number; groups: number[][] }
  readonly crashes: readonly { node: number; at: number; restartAt: number }[]
  /** An extra validator, not in the genesis registry: added (and maybe removed) by admin items, or left out. */
  readonly extraValidator: 'outsider' | 'added' | 'added-removed'
  /** Copies of honest messages with broken signatures, and votes by an unbound key. */
  readonly forgeries: boolean
  readonly healAt: number
  readonly deadline: number
  readonly params: ConsensusParams
  /**
   * Pacing of the validators' transaction messages (NodeHost.txIntervalMs); default 0. Every
   * other round of the themes paces, so crashes and faults also meet a held group.
   */
  readonly txIntervalMs?: number
}

export const SIM_PARAMS: ConsensusParams = {
  ...DEFAULT_PARAMS,
  maxBlockTxs: 8,
  maxTxsPerMessage: 4,
  assemblyDelayMs: 20,
  timeoutProposeMs: 150,
  timeoutPrecommitMs: 80,
  timeoutCommitMs: 80,
  maxTimeoutExponent: 4,
  membershipDelay: 2,
  emptyBlocksAhead: 3,
  retainHeights: 64,
}

/** Pacing in the seeds that pace: longer than most gaps between the scenario's submissions. */
const SIM_TX_INTERVAL_MS = 40

const THEMES = [
  'calm',
  'lossy',
  'partition',
  'crash',
  'equivocate',
  'fork',
  'withhold-validator',
  'withhold-messagenode',
  'censor',
  'lie',
  'gap',
  'forge',
  'membership',
  'chaos',
] as const

export function scenarioFor(seed: number, prng: Prng): Scenario {
  const theme = THEMES[seed % THEMES.length]!
  const n = theme === 'chaos' && prng.chance(0.5) ? 7 : 4
  const m = prng.chance(0.25) ? 3 : 2
  const f = Math.floor((n - 1) / 3)
  const healAt = 2000
  const lossy: NetworkConditions = {
    minDelayMs: 2,
    maxDelayMs: 40,
    drop: 0.1,
    duplicate: 0.05,
    reorder: 0.2,
    reorderJitterMs: 80,
  }
  const base = {
    theme,
    validators: n,
    messagenodes: m,
    transfers: prng.range(15, 30),
    conditions: { ...CALM, maxDelayMs: 30, reorder: 0.1, reorderJitterMs: 30, duplicate: 0.02 },
    byzantineValidators: [] as { index: number; behaviour: ValidatorBehaviour }[],
    byzantineMessagenodes: [] as { index: number; behaviour: MessagenodeBehaviour }[],
    crashes: [] as { node: number; at: number; restartAt: number }[],
    extraValidator: 'outsider' as Scenario['extraValidator'],
    forgeries: false,
    healAt,
    deadline: healAt + 40_000,
    params: SIM_PARAMS,
    // From the seed, not the PRNG: every other detail of a seed's scenario stays as it was.
    txIntervalMs: Math.floor(seed / THEMES.length) % 2 === 0 ? 0 : SIM_TX_INTERVAL_MS,
  }
  const byzValidator = (behaviour: ValidatorBehaviour) => [{ index: prng.int(n), behaviour }]
  const byzMessagenode = (behaviour: MessagenodeBehaviour) => [{ index: prng.int(m), behaviour }]
  switch (theme) {
    case 'calm':
      return base
    case 'lossy':
      return { ...base, conditions: lossy }
    case 'partition': {
      const nodes = prng.shuffle(Array.from({ length: n + m }, (_, i) => i))
      const cut = prng.range(1, nodes.length - 1)
      return {
        ...base,
        partition: { at: prng.range(100, 800), groups: [nodes.slice(0, cut), nodes.slice(cut)] },
      }
    }
    case 'crash': {
      const crashes = [0, 1].map(() => {
        const at = prng.range(100, 1200)
        return { node: prng.int(n + m), at, restartAt: at + prng.range(50, 600) }
      })
      return { ...base, crashes, conditions: { ...lossy, drop: 0.03 } }
    }
    case 'equivocate':
      return { ...base, byzantineValidators: byzValidator('equivocate') }
    case 'fork':
      return { ...base, byzantineValidators: byzValidator('fork') }
    case 'withhold-validator':
      return { ...base, byzantineValidators: byzValidator('withhold') }
    case 'withhold-messagenode':
      return { ...base, byzantineMessagenodes: byzMessagenode('withhold') }
    case 'censor':
      return { ...base, byzantineMessagenodes: byzMessagenode('censor') }
    case 'lie':
      return { ...base, byzantineMessagenodes: byzMessagenode('lie') }
    case 'gap':
      return { ...base, byzantineMessagenodes: byzMessagenode('gap') }
    case 'forge':
      return { ...base, forgeries: true, byzantineValidators: byzValidator('forge') }
    case 'membership':
      return { ...base, extraValidator: prng.chance(0.5) ? 'added' : 'added-removed' }
    default: {
      // Chaos: up to f Byzantine validators, all but one Messagenode Byzantine, loss, a crash.
      const behaviours: ValidatorBehaviour[] = ['equivocate', 'fork', 'withhold', 'forge']
      const mnBehaviours: MessagenodeBehaviour[] = ['withhold', 'censor', 'lie', 'gap']
      const validators = prng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, f)
      const mns = prng.shuffle(Array.from({ length: m }, (_, i) => i)).slice(0, m - 1)
      const honest = Array.from({ length: n + m }, (_, i) => i).filter(
        (i) => !validators.includes(i) && !mns.map((x) => x + n).includes(i),
      )
      const at = prng.range(100, 1200)
      return {
        ...base,
        conditions: { ...lossy, drop: 0.05 },
        byzantineValidators: validators.map((index) => ({ index, behaviour: prng.pick(behaviours) })),
        byzantineMessagenodes: mns.map((index) => ({ index, behaviour: prng.pick(mnBehaviours) })),
        crashes: [{ node: prng.pick(honest), at, restartAt: at + prng.range(50, 500) }],
        forgeries: prng.chance(0.5),
      }
    }
  }
}

export const THEME_COUNT = THEMES.length
