#!/usr/bin/env bash
# Conditional search spaces (issue 18): hpsearch on trees beside Optuna TPE, Hyperopt TPE, SMAC3
# and random search; see the docstring of bench/conditional.py and docs/benchmarks/conditional-spaces.md.
#
#   bash bench/conditional.sh              # what the kept records lack, then the tables
#   bash bench/conditional.sh --summary    # the tables from bench/conditional_results/
#   SEEDS=0-4 PROBLEMS=network METHODS=hp_tree,optuna_tpe bash bench/conditional.sh
#
# Builds the wheel (maturin, release) into a venv of its own, target/cond-venv, with numpy,
# scikit-learn, Optuna, Hyperopt and SMAC3 from PyPI. Records already in
# bench/conditional_results/ are kept (delete a method's file to run it again).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/cond-venv
if [ "${1:-}" = "--summary" ]; then
  exec python3 bench/conditional.py summary
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check 'maturin>=1.12.1,<2' numpy scikit-learn \
  optuna hyperopt smac
"$venv/bin/maturin" build --release -m python/Cargo.toml --out target/cond-wheels
"$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps \
  "$(ls -t target/cond-wheels/hpsearch-*.whl | head -n1)"
args=(run --seeds "${SEEDS:-0-9}" --jobs "${JOBS:-2}")
[ -n "${PROBLEMS:-}" ] && args+=(--problems "$PROBLEMS")
[ -n "${METHODS:-}" ] && args+=(--methods "$METHODS")
"$venv/bin/python" bench/conditional.py "${args[@]}"
