/**
 * The deterministic simulator over 200 seeds (every fault scenario, rotated by seed): agreement,
 * validity, identical state roots, no lost acknowledged transaction, evidence for every
 * equivocation and lie, and blocks sealing again after heal. A failure names the seed; reproduce
 * it with `npm run sim -- --seeds 1 --start <seed> --verbose`.
 */
import { describe, expect, it } from 'vitest'
import { runSeed } from '../../src/sim/run'
import { scenarioFor } from '../../src/sim/scenario'

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

  it('paces transaction messages: fewer, fuller ones, every transfer still acknowledged', {
    timeout: 60_000,
  }, async () => {
    const withInterval = (txIntervalMs: number) =>
      runSeed(0, { scenario: (seed, prng) => ({ ...scenarioFor(seed, prng), txIntervalMs }) })
    const unpaced = await withInterval(0)
    const paced = await withInterval(200)
    expect([...unpaced.violations, ...paced.violations]).toEqual([])
    expect(paced.stats.acked).toBe(unpaced.stats.acked)
    expect(paced.stats.txMessages).toBeLessThan(unpaced.stats.txMessages)
  })

  it('is deterministic: a seed replays to the same run', { timeout: 60_000 }, async () => {
    for (const seed of [3, 13]) {
      const a = await runSeed(seed)
      const b = await runSeed(seed)
      expect(b).toEqual(a)
    }
  })
})
