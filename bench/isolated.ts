/**
 * The in-process consensus bench and the live headless bench each run in a fresh Node process.
 * In the runner's own process they inherited the heap of the suites before them (1.4 GB by then):
 * live headless sealed 879 to 983 tx/s there against 1,133 to 1,268 tx/s alone.
 *
 *   node --import tsx bench/isolated.ts consensus quick|full
 *   node --import tsx bench/isolated.ts live-headless quick|full
 *
 * prints the result as JSON on its last line of stdout; `runIsolated` starts it and reads that.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type ConsensusBench, QUICK_CONFIGS, runConsensusBench } from './consensus'
import { type LiveResult, medianOfRuns, runLiveHeadlessBench } from './live'

type Suite = 'consensus' | 'live-headless'

async function main(suite: Suite, quick: boolean): Promise<ConsensusBench | LiveResult> {
  if (suite === 'consensus') return runConsensusBench(quick ? QUICK_CONFIGS : undefined)
  const live = quick ? { peakSeconds: 3, halfSeconds: 2 } : {}
  // The median of three runs in a full run: its peak moves by a fifth between runs.
  return medianOfRuns(quick ? 1 : 3, () => runLiveHeadlessBench(live))
}

export function runIsolated(suite: 'consensus', quick: boolean): Promise<ConsensusBench>
export function runIsolated(suite: 'live-headless', quick: boolean): Promise<LiveResult>
export function runIsolated(suite: Suite, quick: boolean): Promise<ConsensusBench | LiveResult> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), suite, quick ? 'quick' : 'full'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString()
  })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => {
      const last = out.trim().split('\n').at(-1) ?? ''
      if (code !== 0) return reject(new Error(`bench ${suite} exited with ${code}`))
      try {
        resolve(JSON.parse(last) as ConsensusBench | LiveResult)
      } catch {
        reject(new Error(`bench ${suite} printed no result: ${last.slice(0, 200)}`))
      }
    })
  })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [suite, mode] = process.argv.slice(2) as [Suite, string]
  main(suite, mode === 'quick').then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result)}\n`)
      process.exit(0)
    },
    (e: unknown) => {
      process.stderr.write(`${(e as Error).stack ?? e}\n`)
      process.exit(1)
    },
  )
}
