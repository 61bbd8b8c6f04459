#!/usr/bin/env bash
# `npm run bench`: figures with in-run baselines; see bench/run.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-chromium.sh
npm run build --silent >/dev/null
exec node --import tsx bench/run.ts "$@"
