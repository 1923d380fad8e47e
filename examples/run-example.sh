#!/usr/bin/env bash
# Runs the example search end to end on a fresh machine: installs the example's Python packages,
# builds hpsearch, searches the kernel ridge regression of examples/diabetes_ridge (fit on
# scikit-learn's diabetes data, scored by validation MSE), replicates the best settings, writes the
# report, runs the recommended setting once on the test data, and prints where everything is.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q --disable-pip-version-check -r examples/requirements.txt
cargo build --release --locked --bin hpsearch
hpsearch=$PWD/target/release/hpsearch

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
