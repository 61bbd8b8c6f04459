/**
 * `npm run sim -- --seeds N --start S [--verbose]`: runs seeds S..S+N-1 of the deterministic
 * simulator and exits non-zero if any violates an invariant, naming the seed that reproduces it.
 */
import { runSeed } from './run'

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`)
  if (at < 0) return fallback
  const value = Number(process.argv[at + 1])
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name} needs a non-negative integer`)
  return value
}

const out = (line: string) => process.stdout.write(`${line}\n`)

async function main(): Promise<number> {
  const seeds = arg('seeds', 100)
  const start = arg('start', 0)
  const verbose = process.argv.includes('--verbose')
  const started = Date.now()
  const failed: number[] = []
  const themes = new Map<string, number>()
  for (let seed = start; seed < start + seeds; seed++) {
    const r = await runSeed(seed)
    themes.set(r.theme, (themes.get(r.theme) ?? 0) + 1)
    if (r.violations.length > 0) {
      failed.push(seed)
      out(`seed ${seed} (${r.theme}): ${r.violations.length} violation(s)`)
      for (const v of r.violations) out(`  ${v}`)
      out(`  reproduce: npm run sim -- --seeds 1 --start ${seed} --verbose`)
    } else if (verbose) {
      out(`seed ${seed} (${r.theme}): ok ${JSON.stringify(r.stats)}`)
    }
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  out(
    `${seeds - failed.length}/${seeds} seeds without a violation (${start}..${start + seeds - 1}, ${seconds} s; ${[...themes].map(([t, c]) => `${t} ${c}`).join(', ')})`,
  )
  if (failed.length > 0) out(`failing seeds: ${failed.join(' ')}`)
  return failed.length > 0 ? 1 : 0
}

let finished = false
// A seed whose run waits on something no event will ever settle empties the event loop with
// main() still pending: that is a failure, not a silent exit 0.
process.on('beforeExit', () => {
  if (finished) return
  finished = true
  process.stderr.write(
    'the simulator stopped with a seed unfinished (a run waited on a promise no event settles)\n',
  )
  process.exitCode = 2
})

main().then(
  (code) => {
    finished = true
    process.exitCode = code
  },
  (e) => {
    finished = true
    process.stderr.write(`${(e as Error).stack ?? e}\n`)
    process.exitCode = 2
  },
)
