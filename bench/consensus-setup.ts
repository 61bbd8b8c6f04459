/**
 * What every thread of the consensus bench derives alike from a configuration: keys, the genesis,
 * the payments ledger with its allocations. Deterministic, so the main thread and each node's
 * thread agree without sending any of it.
 */
import { type ConsensusGenesis, DEFAULT_PARAMS } from '../src/core/consensus'
import { type KeyPair, keyPairFromSeed } from '../src/core/identity/keys'
import {
  deriveRoleKeys,
  MESSAGENODE_ROLES,
  type Role,
  type RoleKeyPair,
  VALIDATOR_ROLES,
} from '../src/core/identity/roles'
import type { AppModule } from '../src/core/ledger/module'
import { createPaymentsLedger } from '../src/core/ledger/payments'
import { createNodeSha256 } from '../src/crypto/node'

export const NETWORK_ID = '%YmVuY2htYXJrLW5ldHdvcmstZm9yLWJsb2NrZmluLXdlYj0=.sha256'
export const NETWORK_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + 3) & 255)
export const ACCOUNTS = 256

export interface NodeSetup {
  readonly validators: number
  readonly messagenodes: number
}

const seedOf = (label: string) => {
  const seed = new Uint8Array(32)
  for (let i = 0; i < label.length; i++) seed[i % 32] = (seed[i % 32]! * 31 + label.charCodeAt(i) + i) & 255
  return seed
}
const keyCache = new Map<string, KeyPair>()
export const keyOf = (label: string): KeyPair => {
  let k = keyCache.get(label)
  if (!k) {
    k = keyPairFromSeed(seedOf(label))
    keyCache.set(label, k)
  }
  return k
}

export const accountKeys = (): KeyPair[] => Array.from({ length: ACCOUNTS }, (_, i) => keyOf(`account ${i}`))
export const validatorLabel = (i: number) => `validator ${i}`
export const messagenodeLabel = (i: number) => `messagenode ${i}`

export function benchGenesis(setup: NodeSetup): ConsensusGenesis {
  return {
    networkId: NETWORK_ID,
    validators: Array.from({ length: setup.validators }, (_, i) => keyOf(validatorLabel(i)).id),
    messagenodes: Array.from({ length: setup.messagenodes }, (_, i) => keyOf(messagenodeLabel(i)).id),
    admins: [],
    params: {
      ...DEFAULT_PARAMS,
      maxBlockTxs: 4000,
      maxTxsPerMessage: 16,
      assemblyDelayMs: 25,
      // Generous: a saturated process must not be mistaken for a faulty network.
      timeoutProposeMs: 15_000,
      timeoutPrecommitMs: 15_000,
      timeoutCommitMs: 15_000,
      retainHeights: 16,
    },
  }
}

export function benchApp(): AppModule<unknown, unknown> {
  return createPaymentsLedger({
    allocations: Object.fromEntries(accountKeys().map((a) => [a.id, 1_000_000])),
    sha256: createNodeSha256(),
  }) as AppModule<unknown, unknown>
}

export function roleKeysOf(
  label: string,
  kind: 'validator' | 'messagenode',
): Partial<Record<Role, RoleKeyPair>> {
  const r: Partial<Record<Role, RoleKeyPair>> = {}
  for (const role of kind === 'validator' ? VALIDATOR_ROLES : MESSAGENODE_ROLES)
    r[role] = deriveRoleKeys(keyOf(label), role)
  return r
}
