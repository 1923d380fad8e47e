#!/usr/bin/env bash
# Runs hpsearch's optimiser (`hpsearch ask-tell`, default bopt settings) through the anchor
# benchmark harness of ../shared/bench/anchors beside the reference optimizers, and prints the
# summary table (median final log10 regret and seconds per suggestion per solver, mean ranks).
#
#   bash bench/anchors.sh                  # our solver, seeds 0-9; anchors from their recorded runs
#   bash bench/anchors.sh --rerun-anchors  # also re-run every reference optimizer here (~50 min;
#                                          # builds the harness's venv with optuna, skopt, HEBO...)
#
# Extra settings for our solver: HPSEARCH_SOLVER_CONFIG='{"bopt_config": {"kernel": "RatQuad"}}'.
set -euo pipefail
cd "$(dirname "$0")/.."
anchors_src=${ANCHORS:-../shared/bench/anchors}
work=${WORK:-target/anchors}
cargo build --release --locked --bin hpsearch
solver="$PWD/target/release/hpsearch"

rm -rf "$work"
mkdir -p "$(dirname "$work")"
cp -r "$anchors_src" "$work"
chmod -R u+w "$work"
cd "$work"
mkdir -p results/logs
rm -f results/ext_*.jsonl

python=python3
if [ "${1:-}" = "--rerun-anchors" ]; then
  ./setup_venv.sh
  python=.venv/bin/python
  mkdir -p results.recorded && mv results/*.jsonl results.recorded/ 2>/dev/null || true
  "$python" run.py all --seeds 0-9 --seeds-for hebo=0-4 --jobs 2 --timeout 600
fi
"$python" run.py all --solvers "ext:$solver ask-tell" --seeds 0-9 --jobs 2 --timeout 600
"$python" summarize.py
