#!/usr/bin/env bash
# Runs the kernel tests and the kernel benchmarks on whatever WebGPU adapter this machine has
# (a real GPU or lavapipe) and prints a short table. Usable as is on a borrowed GPU machine:
#   bash tools/gpu-check.sh [--time MS] [--tune] [--train] [--skip-tests] [--out DIR]
# Results land in bench/results-<adapter>/ (or DIR) so they never overwrite the committed lavapipe
# numbers: matmul.json and conv2d.json (every GEMM kernel and both conv strategies, so the
# register-tiled and the shared-memory kernels are measured side by side), sparse-ab-layers.json
# and sparse-ab-forward-{smallcnn,resnet18}.json (sparse against dense, interleaved; wall-clock on
# a hardware adapter), tuning.json (with --tune: what the autotuner chose here) and train.json
# (with --train). A failing kernel test is reported and the benchmarks still run; the exit status
# is the tests'.
set -uo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
TIME=1000
TUNE=0
TRAIN=0
TESTS=1
OUTDIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --time) TIME="$2"; shift 2 ;;
    --tune) TUNE=1; shift ;;
    --train) TRAIN=1; shift ;;
    --skip-tests) TESTS=0; shift ;;
    --out) OUTDIR="$2"; shift 2 ;;
    *) echo "usage: $0 [--time MS] [--tune] [--train] [--skip-tests] [--out DIR]" >&2; exit 2 ;;
  esac
done
[ -d node_modules ] || npm ci --no-audit --no-fund || exit 1
[ -d dist ] || npm run build || exit 1
node bin/eed.js doctor || exit 1
adapter="$(node bin/eed.js doctor --short 2>/dev/null | sed -E 's/^WebGPU adapter: //; s/[^A-Za-z0-9._-]+/_/g' | cut -c1-60)"
out="${OUTDIR:-bench/results-${adapter}}"
mkdir -p "$out"
step() { echo; echo "== $* ($(date -u +%H:%M:%S))"; }
if [ "$TUNE" = 1 ]; then
  step tune
  # A private cache directory, so the file that comes back is this adapter's tuning alone.
  EED_CACHE_DIR="$out/.cache" timeout 120 node bin/eed.js tune --quiet && cp "$out"/.cache/*.json "$out/tuning.json" 2>/dev/null
  export EED_CACHE_DIR="$out/.cache"
fi
tests=0
if [ "$TESTS" = 1 ]; then
  step kernel tests
  # node_modules/vitest/vitest.mjs rather than npx: a machine given only node has no npx.
  timeout 240 node node_modules/vitest/vitest.mjs run test/ops test/engine > "$out/tests.log" 2>&1
  tests=$?
  grep -E -v '^ +✓' "$out/tests.log" | tail -60
  echo "kernel tests exit status: $tests"
fi
step matmul and conv2d benchmarks
node dist/bench/run.js matmul conv2d --time "$TIME" --out "$out"
# The sparse conv kernels against dense per layer shape (the table above the README's sparse
# numbers); on a GPU the grouped kernels' 128 accumulators per thread may spill, which this shows.
step sparse layers
node dist/bench/sparseAb.js layers --sparsity 0.8,0.95 --reps 5 --out "$out/sparse-ab-layers.json"
for model in smallcnn resnet18; do
  step sparse forward "$model"
  node dist/bench/sparseAb.js forward --model "$model" --kernels auto,direct,spmm --sparsity 0.8,0.9 --reps 5 --out "$out/sparse-ab-forward-$model.json"
done
if [ "$TRAIN" = 1 ]; then
  step training-step benchmarks
  node dist/bench/run.js train --time "$TIME" --out "$out"
fi
step table
node -e '
  const fs = require("fs"); const dir = process.argv[1];
  for (const f of ["matmul.json", "conv2d.json", "train.json"].filter((f) => fs.existsSync(dir + "/" + f))) {
    const r = JSON.parse(fs.readFileSync(dir + "/" + f, "utf8"));
    console.log("\n" + f + "  (" + r.adapter + ")");
    for (const x of r.results) console.log("  " + x.name.padEnd(30) + x.shape.padEnd(24) + String(x.ms_median.toFixed(2)).padStart(10) + " ms" + (x.gflops === null ? "" : String(x.gflops.toFixed(1)).padStart(9) + " GFLOP/s"));
  }' "$out"
exit "$tests"
