/**
 * The deterministic simulator over 200 seeds (every fault scenario, rotated by seed): agreement,
 * validity, identical state roots, no lost acknowledged transaction, evidence for every
 * equivocation and lie, and blocks sealing again after heal. A failure names the seed; reproduce
 * it with `npm run sim -- --seeds 1 --start <seed> --verbose`.
 */
import { describe, expect, it } from 'vitest'
import { runSeed } from '../../src/sim/run'

const SEEDS = 200
const PER_TEST = 10

describe('simulator seeds', () => {
  for (let start = 0; start < SEEDS; start += PER_TEST) {
    it(`seeds ${start}..${start + PER_TEST - 1} keep every invariant`, { timeout: 180_000 }, async () => {
      const failures: string[] = []
      for (let seed = start; seed < start + PER_TEST; seed++) {
        const r = await runSeed(seed)
        for (const v of r.violations) failures.push(`seed ${seed} (${r.theme}): ${v}`)
      }
      expect(failures).toEqual([])
    })
  }

  it('is deterministic: a seed replays to the same run', { timeout: 60_000 }, async () => {
    for (const seed of [3, 13]) {
      const a = await runSeed(seed)
      const b = await runSeed(seed)
      expect(b).toEqual(a)
    }
  })
})
