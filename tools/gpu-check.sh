#!/usr/bin/env bash
# Runs the kernel tests and the kernel benchmarks on whatever WebGPU adapter this machine has
# (a real GPU or lavapipe) and prints a short table. Usable as is on a borrowed GPU machine:
#   bash tools/gpu-check.sh [--time MS] [--tune]
# Results land in bench/results-<adapter>/ (and bench/results-<adapter>-sparse-ab.json) so they never
# overwrite the committed lavapipe numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
TIME=1000
TUNE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --time) TIME="$2"; shift 2 ;;
    --tune) TUNE=1; shift ;;
    *) echo "usage: $0 [--time MS] [--tune]" >&2; exit 2 ;;
  esac
done
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -d dist ] || npm run build
node bin/eed.js doctor
if [ "$TUNE" = 1 ]; then node bin/eed.js tune --quiet; fi
npx vitest run test/ops test/engine
adapter="$(node bin/eed.js doctor --short 2>/dev/null | sed -E 's/^WebGPU adapter: //; s/[^A-Za-z0-9._-]+/_/g' | cut -c1-60)"
out="bench/results-${adapter}"
node dist/bench/run.js matmul conv2d --time "$TIME" --out "$out"
# The sparse conv kernels against dense per layer shape (the table above the README's sparse
# numbers); on a GPU the grouped kernels' 128 accumulators per thread may spill, which this shows.
node dist/bench/sparseAb.js layers --sparsity 0.8,0.95 --reps 3 --out "${out}-sparse-ab.json"
node -e '
  const fs = require("fs"); const dir = process.argv[1];
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".json"))) {
    const r = JSON.parse(fs.readFileSync(dir + "/" + f, "utf8"));
    console.log("\n" + f + "  (" + r.adapter + ")");
    for (const x of r.results) console.log("  " + x.name.padEnd(30) + x.shape.padEnd(24) + String(x.ms_median.toFixed(2)).padStart(10) + " ms" + (x.gflops === null ? "" : String(x.gflops.toFixed(1)).padStart(9) + " GFLOP/s"));
  }' "$out"
