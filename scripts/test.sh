#!/usr/bin/env bash
# `npm test`: every check the project has, in order, stopping at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-chromium.sh
npm run typecheck
npm run lint
npx vitest run --project node
npx vitest run --project chromium
# The e2e tests run the relay on the built app: build it first (the web server does not).
npm run build
npx playwright test
