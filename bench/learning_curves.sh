#!/usr/bin/env bash
# Early stopping on learning-curve problems (issue 17): hpsearch's rules (in process, through
# the Python package's Optimizer.report) beside Optuna's pruners, at equal total steps; see the
# docstring of bench/learning_curves.py and docs/benchmarks/early-stopping.md.
#
#   bash bench/learning_curves.sh                 # what the kept records lack, then the tables
#   bash bench/learning_curves.sh --summary       # the tables from bench/learning_curve_results/
#   SEEDS=0-4 PROBLEMS=crossing_d4 bash bench/learning_curves.sh
#
# Builds the wheel (maturin, release) into a venv of its own, target/lc-venv, with numpy,
# scikit-learn and Optuna from PyPI. Records already in bench/learning_curve_results/ are kept
# (delete a method's file to run it again). About 100 minutes for every problem on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/lc-venv
if [ "${1:-}" = "--summary" ]; then
  exec python3 bench/learning_curves.py summary
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# Pinned: the MLP's losses change in the last digit with numpy's BLAS, and the searches diverge
# from there, so records are comparable only within one set of versions.
"$venv/bin/pip" install -q --disable-pip-version-check 'maturin>=1.12.1,<2' numpy==2.4.6 \
  scikit-learn==1.9.1 scipy==1.17.1 optuna==5.1.0
"$venv/bin/maturin" build --release -m python/Cargo.toml --out target/lc-wheels
"$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps \
  "$(ls -t target/lc-wheels/hpsearch-*.whl | head -n1)"
args=(run --seeds "${SEEDS:-0-9}" --jobs "${JOBS:-2}")
[ -n "${PROBLEMS:-}" ] && args+=(--problems "$PROBLEMS")
[ -n "${METHODS:-}" ] && args+=(--methods "$METHODS")
"$venv/bin/python" bench/learning_curves.py "${args[@]}"
