#!/usr/bin/env bash
# The acceptance chain (tools/acceptance.sh) on one GPU, for a call with a hard time limit: issue
# 5's training, then side by side issue 6's four runs, issue 7's 12 pool jobs, issue 5's attack
# suite and issue 7's dense baseline row, then issue 7's pipeline once its pool is complete (and two
# --eval-helper processes for its evaluation once the team is trained). At
# --stop-at seconds every eed process gets one Ctrl-C (each checkpoints and stops at its next safe
# point), and runs/ is packed into --out as runs.tgz.NN pieces of 15 MiB. Every step resumes, so the
# same command continues where an earlier call (its runs/ unpacked here) stopped.
#   bash tools/gpu-chain.sh [--pack DIR] [--stop-at S] [--out DIR] [--eed-run DIR] [--ablation NAME:FLAGS]... [--no-eed] [--no-tune]
# --eed-run DIR: issue 7's run folder (default runs/fmnist, the preset's); another folder starts
# (or continues) a run of the preset as it is now, beside the older one.
# --ablation NAME:FLAGS (repeatable): once DIR's team is selected, a variant of its ensemble stage in
# DIR-NAME with FLAGS added (e.g. 'beta0:--beta 0'), which copies DIR's earlier stages (--stages-from).
# --pack DIR: unpack what tools/gpu-pack.sh made (node, dist/, dawn.node, the Vulkan loader, the
# Fashion-MNIST files) first, for a machine with neither Node.js nor a registry.
# One process keeps a GPU this size busy a few percent of the time (SmallCNN steps are launch-bound),
# which is why the independent jobs run at once.
set -u
T0=$(date +%s)
PACK=""
STOP_AT=540
OUTDIR=""
EED=1
TUNE=1
EED_RUN=runs/fmnist
ABLATIONS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --pack) PACK="$2"; shift 2 ;;
    --stop-at) STOP_AT="$2"; shift 2 ;;
    --out) OUTDIR="$2"; shift 2 ;;
    --eed-run) EED_RUN="$2"; shift 2 ;;
    --ablation) ABLATIONS+=("$2"); shift 2 ;;
    --no-eed) EED=0; shift ;;
    --no-tune) TUNE=0; shift ;;
    *) echo "usage: $0 [--pack DIR] [--stop-at SECONDS] [--out DIR] [--eed-run DIR] [--ablation NAME:FLAGS]... [--no-eed] [--no-tune]" >&2; exit 2 ;;
  esac
done
HARD_AT=$((STOP_AT + 30))
# Relative --pack and --out name folders from where the command was given.
[ -n "$PACK" ] && PACK="$(cd "$PACK" && pwd)"
[ -n "$OUTDIR" ] && mkdir -p "$OUTDIR" && OUTDIR="$(cd "$OUTDIR" && pwd)"
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
# Where no runs/ came along, the packed state of the runs (bench/results/acceptance/) is the start.
ARCHIVE="$(ls bench/results/acceptance/runs-*.tar.gz 2>/dev/null | sort | tail -1)"
[ ! -d runs ] && [ -n "$ARCHIVE" ] && tar xzf "$ARCHIVE"
el() { echo $(( $(date +%s) - T0 )); }
say() { echo "[t=$(el)s] $*"; }

if [ -n "$PACK" ]; then
  # The Vulkan loader where the image has none (its packages hold libraries only), node into
  # /tmp/bin, the data where the library looks for Fashion-MNIST by default.
  if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
    for f in "$PACK"/gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
    ldconfig
  fi
  # Each file written beside its place and renamed over it: writing into a binary that a running
  # process has mapped (an eed of an earlier call, or another checkout sharing node_modules)
  # crashes that process.
  unpack() { xz -dc "$1" > "$2.tmp.$$" && chmod "$3" "$2.tmp.$$" && mv -f "$2.tmp.$$" "$2"; }
  mkdir -p /tmp/bin && unpack "$PACK/node.xz" /tmp/bin/node 755
  export PATH=/tmp/bin:$PATH
  mkdir -p node_modules/webgpu/dist/linux-x64
  for f in index.js package.json; do cp "$PACK/webgpu/$f" "node_modules/webgpu/$f.tmp.$$" && mv -f "node_modules/webgpu/$f.tmp.$$" "node_modules/webgpu/$f"; done
  unpack "$PACK/dawn.node.xz" node_modules/webgpu/dist/linux-x64/dawn.node 644
  [ -f "$PACK/dist.tar.xz" ] && tar xJf "$PACK/dist.tar.xz"
  D=/usr/share/datasets/fashion-mnist
  mkdir -p "$D" && cp "$PACK"/fmnist/*.gz "$D/" && xz -dc "$PACK/fmnist/train-images-idx3-ubyte.xz" | gzip -1 > "$D/train-images-idx3-ubyte.gz"
  say "unpacked $PACK"
fi
if ! timeout 60 node bin/eed.js doctor --short; then
  # Where the Vulkan loader finds no ICD on its own: the NVIDIA driver's, at the path container
  # images mount it.
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  timeout 60 node bin/eed.js doctor --short || { say "no WebGPU adapter"; exit 1; }
fi
timeout 90 node bin/eed.js doctor 2>&1 | grep -E "self-check|tuning"
mkdir -p runs/logs
export EED_CACHE_DIR="$PWD/runs/.tune"
# A few seconds on a GPU (a minute or more on a CPU adapter, where the kernel table is already right).
[ "$TUNE" = 1 ] && timeout 60 node bin/eed.js tune --quiet && say "tuned"

BASE=runs/fmnist-smallcnn
RUN=(node bin/eed.js run --preset fmnist --base-checkpoint "$BASE/model.safetensors" --out "$EED_RUN")
# One job in the background, its output in runs/logs/NAME.log.
# Its subshell's pid is kept: a job runs until its subshell ends (between the steps of a job, or
# before a watcher starts the next stage, no eed process may be alive, and the chain must not stop).
PIDS=()
FAILED=0
job() {
  local name=$1; shift
  ( "$@" >> "runs/logs/$name.log" 2>&1; rc=$?; echo "exit $rc" >> "runs/logs/$name.log"; exit $rc ) &
  PIDS+=("$!")
}
running() { local p; for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
# This chain's eed processes alone (they inherit EED_CHAIN), never another's on the same machine.
export EED_CHAIN="$$-$T0"
ours() { for p in $(pgrep -f '^node bin/eed.js'); do tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "EED_CHAIN=$EED_CHAIN" && echo "$p"; done; }

if [ ! -f "$BASE/report.json" ]; then
  say "issue 5: training"
  job train node bin/eed.js train --preset fmnist-smallcnn --out "$BASE" --checkpoint-minutes 1
  while running && [ "$(el)" -lt "$STOP_AT" ]; do sleep 2; done
  tail -2 runs/logs/train.log
fi
if [ -f "$BASE/report.json" ] && [ "$(el)" -lt "$STOP_AT" ]; then
  say "issue 6 runs, issue 5's attack suite$([ "$EED" = 1 ] && echo ", issue 7's pool and dense row")"
  for s in nis erm ase bnsf; do
    out="runs/prune-80-$s"
    [ -f "$out/eval.json" ] && continue
    job "prune-$s" bash -c '[ -f "$2/report.json" ] || node bin/eed.js prune --preset fmnist-smallcnn-80 --checkpoint "$1" --score "$3" --out "$2" --checkpoint-minutes 1 || exit
      node bin/eed.js eval --preset fmnist-smallcnn --weights "$2/model.safetensors" --model smallcnn --dataset fashion-mnist --attacks clean,pgd --aa-count 0 --out "$2/eval.json"' \
      prune "$BASE/model.safetensors" "$out" "$s"
  done
  [ -f "$BASE/eval.json" ] || job eval5 node bin/eed.js eval --preset fmnist-smallcnn --run "$BASE"
  if [ "$EED" = 1 ]; then
    # The first job writes the run's config before the others open it.
    job pool-00 "${RUN[@]}" --stage pool --job 0
    for _ in $(seq 1 30); do [ -f "$EED_RUN/config.json" ] && break; sleep 1; done
    for k in $(seq 1 11); do job "pool-$(printf %02d "$k")" "${RUN[@]}" --stage pool --job "$k"; done
    job baseline "${RUN[@]}" --baseline-only
    job main bash -c '
      while [ "$(ls "$3"/pool/*/report.json 2>/dev/null | wc -l)" -lt 12 ]; do
        [ "$(( $(date +%s) - $1 ))" -lt "$2" ] || exit 0
        sleep 3
      done
      shift 3; exec "$@"' main "$T0" "$STOP_AT" "$EED_RUN" "${RUN[@]}"
    # Two helpers take the EED rows (the team's without AutoAttack first, then the longest) once
    # the team is trained, while the pipeline works through the rest in order.
    for h in 1 2; do
      job "helper-$h" bash -c '
        while [ ! -f "$3/ensemble/manifest.json" ]; do
          [ "$(( $(date +%s) - $1 ))" -lt "$2" ] || exit 0
          sleep 3
        done
        shift 3; exec "$@"' helper "$T0" "$STOP_AT" "$EED_RUN" "${RUN[@]}" --eval-helper
    done
    for a in "${ABLATIONS[@]}"; do
      name="${a%%:*}"
      # FLAGS split on spaces on purpose: they are options and their values.
      # shellcheck disable=SC2206
      extra=(${a#*:})
      job "ablation-$name" bash -c '
        while [ ! -f "$3/select/selection.json" ]; do
          [ "$(( $(date +%s) - $1 ))" -lt "$2" ] || exit 0
          sleep 3
        done
        shift 3; exec "$@"' ablation "$T0" "$STOP_AT" "$EED_RUN" \
        node bin/eed.js run --preset fmnist --base-checkpoint "$BASE/model.safetensors" --out "$EED_RUN-$name" --stages-from "$EED_RUN" "${extra[@]}"
    done
  fi
fi
while [ "$(el)" -lt "$STOP_AT" ] && running; do sleep 3; done
if running; then
  say "stopping at the next safe points"
  ours | xargs -r kill -INT
  while [ "$(el)" -lt "$HARD_AT" ] && running; do sleep 1; done
  ours | xargs -r kill -KILL
  # A job's shell between two steps (prune, then its evaluation) starts no new one now.
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
fi
for p in "${PIDS[@]}"; do wait "$p" || FAILED=$((FAILED + 1)); done
for f in runs/logs/*.log; do echo "== $f"; tail -3 "$f"; done
if [ -n "$OUTDIR" ]; then
  # Finished runs need no checkpoints (their last epoch is in model.safetensors); their state.json,
  # which names them, goes too (every step checks a run's report.json before resuming it).
  for d in $(find runs -name report.json -printf '%h\n'); do rm -f "$d"/epoch-*.safetensors "$d"/state.json "$d"/train/epoch-*.safetensors "$d"/train/state.json; done
  mkdir -p "$OUTDIR" && tar czf - runs | split -b 15m -d - "$OUTDIR/runs.tgz."
  ls -la "$OUTDIR"
fi
say "done ($FAILED job(s) stopped or failed; each resumes when the command is run again)"
[ "$FAILED" = 0 ]
