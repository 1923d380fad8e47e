"""Time per suggestion of today's build, measured by replaying the kept defaults' runs: each run of
`bench/broad_results/ours/defaults.jsonl.gz` is played again through `hpsearch ask-tell`, one run
at a time, answering every suggestion with the loss the kept run recorded for it. Nothing is
evaluated, so the models' runs take seconds instead of the minutes their cross-validation takes,
and the build's time is measured alone on a core, not beside the harness's objective.

    bash bench/anchors.sh --timing                     # every set but 20 D, seeds 0-9 (~10 min)
    bash bench/anchors.sh --timing --sets 5,models --seeds 0-2

A replay is the kept run only if the build suggests what the kept build did, bit for bit: a
build that moves a suggestion is told the loss of another point from then on. So each replay is
checked: the point suggested where the kept run found its best must be the kept run's best
point ("same" below). A build that changes the suggestions is timed through the harness instead
(bench/anchors.sh --broad). Every model is seeded (`skl_linear_breast` since 2026-12-07), so
every kept run replays.

Per set: the median over problems of each problem's median seconds per suggestion (a run's
mean over its suggestions after the first, which also holds the process's start), beside Optuna
GPSampler's from its kept records (the same harness, one thread), their ratio, and the
per-problem ratios' median and quartiles. Issue 16 asks a ratio of 1/20 or less. Run from the
harness folder (it imports the harness's problems.py and run.py).
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import broad_problems  # noqa: E402
from problems import get_problem  # noqa: E402
from run import parse_seeds, validate  # noqa: E402

ROOT = os.path.dirname(HERE)
KEPT = os.path.join(ROOT, "bench", "broad_results", "ours", "defaults.jsonl.gz")
OPTUNA_GP = os.path.join(ROOT, "bench", "broad_results", "optuna_gp.jsonl.gz")


def _bbob(dim):
    return [f"bbob_f{f:02d}_d{dim}_i1" for f in range(1, 25)]


def sets():
    """name -> problems, as the standing table groups them (instance 1 of BBOB)."""
    models = broad_problems.MODEL_NAMES
    return {
        "2": ("BBOB 2 D instance 1 and the anchors", _bbob(2) + list(broad_problems.ANCHORS)),
        "5": ("BBOB 5 D", _bbob(5)),
        "10": ("BBOB 10 D", _bbob(10)),
        "20": ("BBOB 20 D", _bbob(20)),
        "models": (f"{len(models)} scikit-learn models", models),
    }


def records(path):
    out = {}
    with gzip.open(path, "rt") as f:
        for line in f:
            r = json.loads(line)
            if r.get("status") == "ok":
                out[(r["problem"], r["seed"])] = r
    return out


def replay(binary, problem, kept):
    """(mean seconds per suggestion after the first, whether the replay is the kept run)."""
    proc = subprocess.Popen([binary, "ask-tell"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, bufsize=1)
    header = {"space": problem.space, "seed": kept["seed"], "budget": kept["budget"],
              "direction": "minimize"}
    proc.stdin.write(json.dumps(header) + "\n")
    proc.stdin.flush()
    waits, asked = [], []
    for value in kept["values"]:
        start = time.perf_counter()
        line = proc.stdout.readline()
        waits.append(time.perf_counter() - start)
        if not line:
            sys.exit(f"replay_timing: {binary} ask-tell ended early on {problem.name} "
                     f"seed {kept['seed']} (rc {proc.wait()})")
        asked.append(json.loads(line)["params"])
        proc.stdin.write(json.dumps({"value": value}) + "\n")
        proc.stdin.flush()
    proc.stdin.close()
    proc.wait()
    best = kept["values"].index(min(kept["values"]))
    same = validate(problem.space, asked[best])[0] == kept["best_params"]
    return sum(waits[1:]) / max(1, len(waits) - 1), same


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "hpsearch"))
    parser.add_argument("--sets", default="2,5,10,models",
                        help="comma-separated: 2, 5, 10, 20, models (default: all but 20)")
    parser.add_argument("--seeds", default="0-9")
    args = parser.parse_args()
    kept, optuna = records(KEPT), records(OPTUNA_GP)
    seeds = parse_seeds(args.seeds)
    known = sets()
    for key in args.sets.split(","):
        if key not in known:
            sys.exit(f"replay_timing: unknown set '{key}' in --sets (use {', '.join(known)})")
    print(f"build: {args.binary}; seeds {args.seeds}; one run at a time")
    for key in args.sets.split(","):
        name, problems = known[key]
        ours_medians, optuna_medians, ratios = [], [], []
        same = total = 0
        for p in problems:
            problem = get_problem(p)
            times = []
            for seed in seeds:
                if (p, seed) not in kept:
                    continue
                t, ok = replay(args.binary, problem, kept[(p, seed)])
                times.append(t)
                same += ok
                total += 1
                if not ok:
                    print(f"  {p} seed {seed}: the replay is not the kept run", flush=True)
            theirs = [sum(optuna[(p, s)]["solver_s"]) / optuna[(p, s)]["n_evals"]
                      for s in seeds if (p, s) in optuna]
            if not times or not theirs:
                continue
            ours_medians.append(statistics.median(times))
            optuna_medians.append(statistics.median(theirs))
            ratios.append(ours_medians[-1] / optuna_medians[-1])
        if not ratios:
            print(f"{name}: no kept runs on these seeds")
            continue
        ours, theirs = statistics.median(ours_medians), statistics.median(optuna_medians)
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        print(f"{name} ({len(ratios)} problems): ours {ours * 1e3:.2f} ms, Optuna GPSampler "
              f"{theirs * 1e3:.1f} ms, ratio 1/{theirs / ours:.1f}; per-problem ratio "
              f"{statistics.median(ratios):.3f} [{q[0]:.3f}, {q[2]:.3f}]; replays that are the "
              f"kept run: {same} of {total}", flush=True)


if __name__ == "__main__":
    main()
