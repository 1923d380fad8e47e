"""Scores the runs on bench/noisy_problems.py by the noiseless loss at each run's best settings
(log10 regret, median [Q1, Q3] and mean over seeds, per problem and solver).

    python3 bench/noisy_regret.py RESULTS_DIR   # run from the harness copy (imports problems.py)
    # the same records with each run's trace replaced by that noiseless loss, for
    # bench/broad_summary.py (the noisy broad set: bash bench/anchors.sh --noisy-broad)
    python3 bench/noisy_regret.py RESULTS_DIR --noiseless OUT_DIR
"""
import glob
import json
import math
import os
import statistics
import sys

import noisy_problems


def noiseless(results, out):
    """Writes every run on a noisy problem to `out`, its best-so-far trace replaced by the
    noiseless loss at its best settings (what a user gets who reruns them), so the broad
    benchmark's summary ranks the solvers by it."""
    os.makedirs(out, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(results, "*.jsonl"))):
        kept = []
        for line in open(path):
            run = json.loads(line)
            problem = noisy_problems.PROBLEMS.get(run.get("problem"))
            if problem is None or run.get("status") != "ok":
                continue
            true = problem.true(run["best_params"])
            run["best"] = [true] * len(run["best"])
            kept.append(json.dumps(run))
        with open(os.path.join(out, os.path.basename(path)), "w") as f:
            f.write("".join(line + "\n" for line in kept))


def main(results):
    scores = {}
    for path in sorted(glob.glob(os.path.join(results, "*.jsonl"))):
        for line in open(path):
            run = json.loads(line)
            problem = noisy_problems.PROBLEMS.get(run.get("problem"))
            if problem is None or run.get("status") != "ok":
                continue
            regret = max(problem.true(run["best_params"]) - problem.f_star, 1e-12)
            scores.setdefault((run["problem"], run["solver"]), []).append(math.log10(regret))
    print("| problem | solver | seeds | noiseless log10 regret at the best settings, median [Q1, Q3] | mean |")
    print("|---|---|---|---|---|")
    for (problem, solver), values in sorted(scores.items()):
        q1, median, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        print(f"| {problem} | {solver} | {len(values)} | {median:.2f} [{q1:.2f}, {q3:.2f}] "
              f"| {statistics.mean(values):.2f} |")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[2] == "--noiseless":
        noiseless(sys.argv[1], sys.argv[3])
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "results")
