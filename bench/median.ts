/**
 * Several whole runs of one benchmark setup: the run with the median figure is reported, with the
 * range beside it. Consensus peaks on two cores move by a fifth from one run to the next, so one
 * run cannot say on which side of a target a ratio lies.
 */
export async function medianRun<T>(
  runs: number,
  run: () => Promise<T>,
  figureOf: (result: T) => number,
): Promise<{
  readonly median: T
  readonly range: readonly [number, number]
  readonly results: readonly T[]
}> {
  const results: T[] = []
  for (let i = 0; i < Math.max(1, runs); i++) results.push(await run())
  results.sort((a, b) => figureOf(a) - figureOf(b))
  return {
    median: results[Math.floor((results.length - 1) / 2)]!,
    range: [figureOf(results[0]!), figureOf(results.at(-1)!)],
    results,
  }
}
