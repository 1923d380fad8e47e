#!/usr/bin/env bash
# Runs hpsearch's optimiser (`hpsearch ask-tell`, default bopt settings) through the anchor
# benchmark harness of ../shared/bench/anchors beside the reference optimizers, and prints the
# summary table (median final log10 regret and seconds per suggestion per solver, mean ranks).
#
#   bash bench/anchors.sh                  # our solver, seeds 0-9; anchors from their recorded runs,
#                                          # except those re-run here, in bench/anchor_reruns/
#   bash bench/anchors.sh --rerun-anchors  # also re-run every reference optimizer here (~80 min;
#                                          # builds the harness's venv with optuna, skopt, HEBO...)
#
# bench/anchor_reruns/<solver>.jsonl replaces the harness's recorded results of that solver:
# hebo.jsonl holds HEBO on seeds 0-9 with the harness's seeded adapter (the recorded HEBO runs had
# seeds 0-4 and predate the seeding fix, so they cannot be reproduced; docs/benchmarks/anchors.md).
#   bash bench/anchors.sh --rosenbrock60   # instead: rosenbrock4 on seeds 0-59, ours and HEBO (its
#                                          # seeds 10-59 in bench/anchor_reruns/more_seeds/; ~2 min)
#   bash bench/anchors.sh --extra          # instead: the problems of bench/extra_problems.py, ours
#                                          # beside random, Optuna TPE and GP, skopt (~15 min; venv)
#   bash bench/anchors.sh --extra8         # the same for its 8-D multimodal set (styblinski8, ...)
#   bash bench/anchors.sh --steep          # the same for Michalewicz's function in 2, 5 and 10 D
#                                          # (~6 min), HEBO's kept records (2 and 5 D) beside them
#   bash bench/anchors.sh --noisy          # instead: ours on the noisy copies of
#                                          # bench/noisy_problems.py, seeds 0-59 (~3 min), scored
#                                          # by the noiseless loss at the best settings
#   bash bench/anchors.sh --noisy-references  # the same on seeds 0-9 beside random, Optuna TPE
#                                          # and GP, skopt (~15 min; venv)
#
#   bash bench/anchors.sh --standing       # instead: where we stand, the table that opens
#                                          # docs/benchmarks.md, from the kept records alone
#                                          # (bench/standing.py; seconds; add --noisy for the
#                                          # held-out noisy sets, about 5 minutes)
#   bash bench/anchors.sh --timing         # instead: today's build's time per suggestion, by
#                                          # replaying the kept defaults' runs one at a time
#                                          # (bench/replay_timing.py; ~10 min; needs a build that
#                                          # suggests what the kept one did, which it checks)
#   bash bench/anchors.sh --broad          # instead: the broad benchmark of bench/broad_problems.py
#                                          # (BBOB's 24 functions in 2-20 D, 3 instances each,
#                                          # 14 scikit-learn models, the six anchors), ours beside
#                                          # the references; see "The broad benchmark" below.
#   bash bench/anchors.sh --noisy-broad    # the same for its noisy set (BBOB in 2, 5, 10 D with two
#                                          # noise models; ten models on fresh CV splits,
#                                          # bench/noisy_problems.py), scored by the noiseless
#                                          # loss at each run's best settings
#
# Extra settings for our solver: HPSEARCH_SOLVER_CONFIG='{"bopt_config": {"kernel": "RatQuad"}}'.
# Another build of it: HPSEARCH_SOLVER=path/to/hpsearch (see bench/broad_compare.py).
set -euo pipefail
# An unknown option is refused before anything is built or copied.
case "${1:-}" in
"" | --standing | --timing | --rerun-anchors | --extra | --extra8 | --steep | --broad | --noisy-broad | \
  --noisy | --noisy-references | --rosenbrock60) ;;
*)
  echo "bench/anchors.sh: unknown option '$1' (use --standing, --timing, --rerun-anchors, --extra, --extra8, --steep, --broad, --noisy-broad, --noisy, --noisy-references or --rosenbrock60)" >&2
  exit 2
  ;;
esac
cd "$(dirname "$0")/.."
root="$PWD"
# Absolute: the harness folder is also read after the cd into the work folder (the venv's copy).
anchors_src=$(realpath "${ANCHORS:-../shared/bench/anchors}")
work=${WORK:-target/anchors}
# --standing reads the kept records only: its copy of the harness is its own, so it leaves the
# last comparison's results in target/anchors as they were.
if [ "${1:-}" = --standing ] || [ "${1:-}" = --timing ]; then work=${WORK:-target/anchors-standing}; fi
# HPSEARCH_SOLVER=/path/to/hpsearch runs that build instead (a variant to compare, named in the
# records by its path: bench/broad_compare.py sets two such runs side by side).
if [ -n "${HPSEARCH_SOLVER:-}" ]; then
  solver=$(realpath "$HPSEARCH_SOLVER")
elif [ "${1:-}" = --standing ]; then
  solver=none # reads the kept records only
else
  cargo build --release --locked --bin hpsearch
  solver="$PWD/target/release/hpsearch"
fi

rm -rf "$work"
mkdir -p "$(dirname "$work")"
cp -r "$anchors_src" "$work"
chmod -R u+w "$work"
cd "$work"
mkdir -p results/logs
rm -f results/ext_*.jsonl

python=python3
# The harness names an external solver by its command line; the tables call ours by its name.
summarize() { "$python" summarize.py | sed "s#ext:$solver ask-tell#hpsearch (ours)#g"; }
for rerun in "$root"/bench/anchor_reruns/*.jsonl; do
  [ -e "$rerun" ] || continue
  mkdir -p results/superseded
  name=$(basename "$rerun")
  [ -e "results/$name" ] && mv "results/$name" "results/superseded/recorded_$name"
  cp "$rerun" "results/$name"
done
case "${1:-}" in
--rerun-anchors)
  ./setup_venv.sh
  python=.venv/bin/python
  mkdir -p results.recorded && mv results/*.jsonl results.recorded/ 2>/dev/null || true
  "$python" run.py all --seeds 0-9 --jobs 2 --timeout 1200
  ;;
--extra | --extra8 | --steep)
  # Problems outside the suite: no recorded anchors, so the cheaper references run here.
  export HPS_EXTRA_PROBLEMS="$root/bench/extra_problems.py"
  case "$1" in
  --extra8) extra=styblinski8,rastrigin8_off,griewank8_off,ackley8_off,levy8_off,schwefel8 ;;
  --steep) extra=michalewicz2,michalewicz5,michalewicz10 ;;
  *) extra=styblinski4,hartmann6_shift,goldstein,hpo_ints,hpo_bounds,ackley5_off,levy10_off ;;
  esac
  ./setup_venv.sh
  python=.venv/bin/python
  mkdir -p results.recorded && mv results/*.jsonl results.recorded/ 2>/dev/null || true
  "$python" run.py all --solvers random,optuna_tpe,optuna_gp,skopt_gp,"ext:$solver ask-tell" \
    --problems "$extra" --seeds 0-9 --jobs 2 --timeout 600
  if [ "$1" = --steep ]; then
    # HEBO takes about 2 s a suggestion here (20 minutes for its 20 runs), so its runs are kept:
    # `run.py all --solvers hebo --problems michalewicz2,michalewicz5 --seeds 0-9` in this venv.
    gunzip -c "$root/bench/steep_results/hebo.jsonl.gz" > results/hebo.jsonl
  fi
  summarize
  exit 0
  ;;
--standing | --timing)
  # Nothing is searched (--timing replays ours' kept runs through today's build): the kept records of bench/broad_results/ (and bench/noisy_results/), read
  # through the harness's summarize.py. The broad benchmark's venv serves where it exists;
  # otherwise a small one with the libraries that scoring needs (the noisy models' noiseless
  # losses are cross-validated again, so scikit-learn is pinned to the version they were run
  # with).
  python="$root/target/anchors-venv/.venv/bin/python"
  if ! "$python" -c 'import cocoex, sklearn, scipy' 2>/dev/null; then
    python="$root/target/standing-venv/bin/python"
    if ! "$python" -c 'import cocoex, sklearn, scipy' 2>/dev/null; then
      rm -rf "$root/target/standing-venv"
      python3 -m venv "$root/target/standing-venv"
      "$python" -m pip install --quiet numpy==2.4.6 scipy==1.17.1 scikit-learn==1.9.1 \
        coco-experiment==2.8.2
    fi
  fi
  if [ "$1" = --timing ]; then
    shift
    PYTHONPATH="$root/bench:$PWD" HPS_EXTRA_PROBLEMS="$root/bench/broad_problems.py" \
      "$python" "$root/bench/replay_timing.py" --binary "$solver" "$@"
    exit 0
  fi
  shift
  PYTHONPATH="$root/bench:$PWD" "$python" "$root/bench/standing.py" "$@"
  exit 0
  ;;
--broad | --noisy-broad)
  # The broad benchmark. The references' records are kept in bench/broad_results/ (gzipped
  # JSON lines, one file per solver), so a comparison re-runs only ours: a reference run is
  # made only where its record is missing, and then saved there to be committed. Which part
  # runs (defaults: everything, which takes days on 2 cores):
  #   BROAD_DIMS=2,5,10,20  BROAD_INSTANCES=1,2,3  BROAD_FUNCTIONS=1-24  BROAD_MODELS=1
  #   BROAD_ANCHORS=1  BROAD_SEEDS=0-9  BROAD_REFERENCES=random,optuna_tpe,optuna_gp,skopt_gp,hebo
  # BROAD_FUNCTIONS= (set, empty) leaves BBOB out; BROAD_MODELS=svm,forest,knn_iris,... runs those
  # models (or model_dataset pairs) only.
  # The venv (the harness's locked set, torch and HEBO included, plus coco-experiment) is made
  # once in target/anchors-venv and kept.
  venv_dir="$root/target/anchors-venv"
  if [ ! -x "$venv_dir/.venv/bin/python" ] || ! "$venv_dir/.venv/bin/python" -c 'import cocoex, optuna' 2>/dev/null; then
    rm -rf "$venv_dir" && mkdir -p "$venv_dir" && cp -r "$anchors_src"/. "$venv_dir"/
    chmod -R u+w "$venv_dir"
    (cd "$venv_dir" && ./setup_venv.sh && .venv/bin/pip install coco-experiment==2.8.2)
  fi
  python="$venv_dir/.venv/bin/python"
  # Ax (BoTorch) and SMAC3 are the harness's extra solvers, installed beside the locked set by
  # its setup_extra.sh (pure additions) when a run names them.
  case ",${BROAD_REFERENCES:-}," in
  *,ax,* | *,smac,*)
    "$python" -c 'import ax, smac' 2>/dev/null || (cd "$venv_dir" && ./setup_extra.sh)
    ;;
  esac
  export HPS_EXTRA_PROBLEMS="$root/bench/broad_problems.py"
  problems=$(BROAD_DIMS="${BROAD_DIMS:-2,5,10,20}" BROAD_INSTANCES="${BROAD_INSTANCES:-1,2,3}" \
    BROAD_FUNCTIONS="${BROAD_FUNCTIONS-1-24}" BROAD_MODELS="${BROAD_MODELS:-1}" \
    BROAD_ANCHORS="${BROAD_ANCHORS:-1}" PYTHONPATH="$root/bench:$PWD" \
    "$python" -c 'import broad_problems as b; print(",".join(b.selected()))')
  references="${BROAD_REFERENCES:-random,optuna_tpe,optuna_gp,skopt_gp,hebo}"
  kept="$root/bench/broad_results"
  if [ "$1" = --noisy-broad ]; then
    # The noisy broad set: BBOB f1-f24 in 2, 5 and 10 D on instance 4, with COCO's severe Gaussian
    # noise on the regret (`_gn`) or an additive floor (`_add`), bench/noisy_problems.py; its
    # references' records in bench/noisy_results/, scored by the noiseless loss at each run's
    # best settings; and ten scikit-learn models whose cross-validation split and seeds are
    # drawn afresh at every evaluation (`skl_*_cv`). NOISY_DIMS=2 (or 5, 10) runs one dimension
    # (NOISY_DIMS= leaves BBOB out), NOISY_MODELS=0 leaves the models out.
    export HPS_EXTRA_PROBLEMS="$root/bench/noisy_problems.py"
    problems=$(NOISY_DIMS="${NOISY_DIMS-2,5,10}" NOISY_MODELS="${NOISY_MODELS:-1}" PYTHONPATH="$root/bench:$PWD" "$python" -c '
import os, noisy_problems as n
dims = {int(d) for d in os.environ["NOISY_DIMS"].split(",") if d}
models = n.NOISY_MODELS if os.environ["NOISY_MODELS"] != "0" else []
print(",".join([p.name for p in n.NOISY_BROAD if p.dim in dims] + [p.name for p in models]))')
    references="${BROAD_REFERENCES:-random,optuna_tpe,optuna_gp}"
    kept="$root/bench/noisy_results"
  fi
  seeds="${BROAD_SEEDS:-0-9}"
  # Only the chosen solvers' records in results/: the harness's recorded anchor runs of a
  # reference seed its file until bench/broad_results/ has one (a superset, saved below).
  mkdir -p results.recorded "$kept"
  mv results/*.jsonl results.recorded/ 2>/dev/null || true
  for solver_name in ${references//,/ }; do
    recorded="$kept/$solver_name.jsonl.gz"
    if [ -e "$recorded" ]; then
      gzip -dc "$recorded" > "results/$solver_name.jsonl"
    elif [ -e "results.recorded/$solver_name.jsonl" ]; then
      cp "results.recorded/$solver_name.jsonl" results/
    fi
    "$python" run.py all --solvers "$solver_name" --problems "$problems" --seeds "$seeds" \
      --jobs 2 --timeout 900
    # Every record of the solver, old and new, back where it is kept (the harness's run.py skips
    # what results/ already holds, and appends what it ran).
    "$python" "$root/bench/broad_records.py" "results/$solver_name.jsonl" "$recorded"
  done
  "$python" run.py all --solvers "ext:$solver ask-tell" --problems "$problems" --seeds "$seeds" \
    --jobs 2 --timeout 900
  if [ "$1" = --noisy-broad ]; then
    PYTHONPATH="$root/bench:$PWD" "$python" "$root/bench/noisy_regret.py" results --noiseless results.noiseless
    rm -rf results && mv results.noiseless results
  fi
  PYTHONPATH="$root/bench:$PWD" "$python" "$root/bench/broad_summary.py" results --problems "$problems" |
    sed "s#ext:$solver ask-tell#hpsearch (ours)#g"
  exit 0
  ;;
--noisy | --noisy-references)
  export HPS_EXTRA_PROBLEMS="$root/bench/noisy_problems.py"
  solvers="ext:$solver ask-tell" seeds=0-59
  if [ "$1" = --noisy-references ]; then
    ./setup_venv.sh
    python=.venv/bin/python
    solvers="random,optuna_tpe,optuna_gp,skopt_gp,$solvers" seeds=0-9
  fi
  noisy=$(PYTHONPATH="$root/bench" "$python" -c 'import noisy_problems as n; print(",".join(p.name for p in n.ANCHOR_COPIES))')
  "$python" run.py all --solvers "$solvers" --problems "$noisy" --seeds "$seeds" \
    --jobs 2 --timeout 600
  PYTHONPATH="$root/bench:$PWD" "$python" "$root/bench/noisy_regret.py" results |
    sed "s#ext:$solver ask-tell#hpsearch (ours)#g"
  exit 0
  ;;
--rosenbrock60)
  # rosenbrock4 on 60 seeds, ours against HEBO (seeds 0-9 from hebo.jsonl, 10-59 from
  # more_seeds/): ten seeds of a problem whose runs end in one of two basins are too few.
  mkdir -p results.recorded && mv results/*.jsonl results.recorded/ 2>/dev/null || true
  grep -h '"rosenbrock4"' "$root"/bench/anchor_reruns/hebo.jsonl \
    "$root"/bench/anchor_reruns/more_seeds/hebo_rosenbrock4_seeds*.jsonl > results/hebo.jsonl
  "$python" run.py all --solvers "ext:$solver ask-tell" --problems rosenbrock4 --seeds 0-59 \
    --jobs 2 --timeout 600
  summarize
  exit 0
  ;;
"") ;;
*)
  exit 2 # refused at the top
  ;;
esac
"$python" run.py all --solvers "ext:$solver ask-tell" --seeds 0-9 --jobs 2 --timeout 600
summarize
