import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defineConfig } from '@playwright/test'
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './scripts/chromium'

/**
 * End-to-end tests: real Chromium (Debian's), a real relay process serving the built app (run
 * `npm run build` first; scripts/test.sh does). The relay gets a free port and a fresh data dir.
 */

/** Asks the OS for a free port (the listener closes again at once). */
function freePort(): string {
  const script =
    "const s=require('node:net').createServer().listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})"
  return execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim()
}

// Chosen once in the runner; the workers inherit the environment and keep these values.
process.env.BLOCKFIN_E2E_PORT ??= freePort()
process.env.BLOCKFIN_E2E_DATA_DIR ??= mkdtempSync(join(tmpdir(), 'blockfin-e2e-relay-'))
const port = process.env.BLOCKFIN_E2E_PORT
const baseURL = `http://127.0.0.1:${port}`

export default defineConfig({
  testDir: 'test/e2e',
  outputDir: 'test-results/e2e',
  workers: 2,
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 60_000,
  reporter: [['list']],
  use: {
    baseURL,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        browserName: 'chromium',
        viewport: { width: 1100, height: 900 },
        launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS },
      },
    },
  ],
  webServer: {
    command: 'node --import tsx relay/src/main.ts',
    url: `${baseURL}/api/status`,
    env: { PORT: port, HOST: '127.0.0.1', BLOCKFIN_DATA_DIR: process.env.BLOCKFIN_E2E_DATA_DIR },
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    timeout: 60_000,
    gracefulShutdown: { signal: 'SIGTERM', timeout: 5_000 },
  },
})
