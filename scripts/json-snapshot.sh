#!/usr/bin/env bash
# Writes the --quick --json output of every experiment for seeds 1 and 7 into DIR, one file per
# experiment and seed, to compare byte for byte before and after a change to the model's code
# (a change meant to be pure speed must leave every file identical):
#   bash scripts/json-snapshot.sh /tmp/before   # on the old code
#   bash scripts/json-snapshot.sh /tmp/after    # on the new code
#   diff -r /tmp/before /tmp/after && echo identical
# ucat replays real programs' traces, captured once into the trace cache (src/trace/workloads.ts:
# ~/.cache/unimem/traces) by the first run that needs them. Two runs started together on a cold
# cache capture a trace each, and two captures of a real program differ, so their outputs do too:
# run the two sides one after the other, or warm the cache first.
set -euo pipefail
dir=${1:?usage: json-snapshot.sh DIR [SEEDS...]}
shift
seeds=("${@:-1}")
[ $# -eq 0 ] && seeds=(1 7)
cd "$(dirname "$0")/.."
mkdir -p "$dir"
experiments=$(node bin/unimem.js config list | awk 'NR > 2 && NF { print $1 }')
for exp in $experiments; do
  for seed in "${seeds[@]}"; do
    node bin/unimem.js run "$exp" --quick --json --seed "$seed" > "$dir/$exp.seed$seed.json"
  done
done
# ucat's other workload (the default replays traces; this one runs the model's own programs).
for seed in "${seeds[@]}"; do
  node bin/unimem.js run ucat --workload model --quick --json --seed "$seed" > "$dir/ucat-model.seed$seed.json"
done
ls -l "$dir"
