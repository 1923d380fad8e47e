#!/usr/bin/env bash
# Runs the example search end to end on a fresh machine: installs the example's Python packages
# into a virtual environment, builds hpsearch, searches the kernel ridge regression of examples/diabetes_ridge (fit on
# scikit-learn's diabetes data, scored by validation MSE), replicates the best settings, writes the
# report, runs the recommended setting once on the test data, and prints where everything is.
set -euo pipefail
cd "$(dirname "$0")/.."

# The example's Python packages go into a virtual environment of its own: a stock Debian or
# Ubuntu Python refuses system-wide installs (externally-managed-environment), and this touches
# nothing outside the checkout. Its python3 comes first on PATH, so the example's
# job_config.json ("environment_path": "python3") runs the analysis with it.
venv=${HPSEARCH_EXAMPLE_VENV:-$PWD/target/example-venv}
if [ ! -x "$venv/bin/python3" ]; then
  python3 -m venv "$venv" || {
    echo "cannot create a Python virtual environment; on Debian/Ubuntu: apt-get install python3-venv" >&2
    exit 1
  }
fi
"$venv/bin/python3" -m pip install -q --disable-pip-version-check -r examples/requirements.txt
export PATH="$venv/bin:$PATH"

# The same build profile as the test suite (`cargo nextest run`), so the two commands of the
# README build once.
cargo build --locked --bin hpsearch
hpsearch=$PWD/target/debug/hpsearch

# A fresh copy of the example project, so that every run starts at search 0 with clean files.
work=$PWD/target/example/diabetes_ridge
rm -rf "$work"
mkdir -p "$(dirname "$work")"
cp -r examples/diabetes_ridge "$work"

"$hpsearch" run "$work"
echo
echo "== the 5 best settings"
"$hpsearch" results "$work/hp_search_0" --top 5
echo
echo "== the report: figures, the noise of the score from the replicate runs, the simplest near-best setting"
"$hpsearch" report "$work/hp_search_0"
echo
echo "== the test phase: the recommended setting, once, on the held-out test data"
"$hpsearch" test "$work/hp_search_0"
echo
echo "Everything is in $work/hp_search_0 (hp_search_data.txt, log.txt, report/report.html, one hp_combination_N folder per run)."
echo "Watch searches live with: $hpsearch dashboard $work"
