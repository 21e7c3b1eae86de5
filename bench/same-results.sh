#!/usr/bin/env bash
# The model's results before and after a change of the access path, byte for byte: the `--quick
# --json` output of every experiment (and of ucat's model workload) for the given seeds.
#
#   bash bench/same-results.sh OUTDIR [SEEDS...]      writes OUTDIR/<experiment>-<seed>.json
#   diff -r BEFORE AFTER                              then compares two such folders
#
# Seeds default to 1 and 3. Experiments come from `unimem config list`.
set -euo pipefail
out=${1:?usage: same-results.sh OUTDIR [SEEDS...]}
shift
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 3)
cd "$(dirname "$0")/.."
mkdir -p "$out"
exps=$(node bin/unimem.js config list | tail -n +3 | awk '{print $1}')
for seed in "${seeds[@]}"; do
  for e in $exps; do
    node bin/unimem.js run "$e" --quick --json --seed "$seed" >"$out/$e-$seed.json"
  done
  node bin/unimem.js run ucat --workload model --quick --json --seed "$seed" >"$out/ucat-model-$seed.json"
done
ls -l "$out"
