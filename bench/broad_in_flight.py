"""Runs in flight on the broad benchmark: how much wall time do q workers save?

    python3 bench/broad_in_flight.py RESULTS_DIR SEQUENTIAL PARALLEL --q Q [--problems P,Q]

SEQUENTIAL and PARALLEL are two runs of our solver in the harness's records (RESULTS_DIR/*.jsonl):
one made one at a time, one with `HPSEARCH_IN_FLIGHT=Q` (`hpsearch ask-tell` then suggests Q
ahead: each suggestion is made while the Q - 1 before it have no value, as with Q workers whose
runs take equally long and end in the order they started). Run from the harness folder: the
records are read, and regrets floored, by its summarize.py (as for bench/broad_compare.py).

The speed-up, per problem and seed: the target is the regret sequential search reached after
half the problem's budget (m = floor(B/2) results, m rounds of one run); the parallel search
needs n results to reach it, ceil(n / Q) rounds of Q runs; speed-up = m / ceil(n / Q). The
issue's target, a speed-up of at least Q/2, is thus about "Q workers need at most twice the
results of one" (exactly so where Q divides B; a Q above B/2 cannot meet it).
Where the parallel search does not reach it within its budget, the speed-up is below m /
ceil(B / Q) (= Q/2 for a budget that Q divides): counted as if it had needed one round more, just
under that bound, so a seed that missed never counts as meeting the target. Printed per family
and over all problems: the median over problems of the per-problem median speed-up, the share
of problems whose median meets Q/2, and the median difference of final log10 regret at the same
number of results (the cost per result of suggesting without the latest values).
"""
import argparse
import math
import os
import sys
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import broad_problems  # noqa: E402
from summarize import load, lreg as log_regret  # noqa: E402


def records(runs, solver):
    """(problem, seed) -> the record's best-so-far values and f_star, for `solver`'s ok runs that
    spent their whole budget (others are left out, with a warning)."""
    out = {}
    for r in runs:
        if r["solver"] != solver or not r.get("best"):
            continue
        if len(r["best"]) != r["budget"]:
            print(f"broad_in_flight: {solver} {r['problem']} seed {r['seed']}: "
                  f"{len(r['best'])} results of a budget of {r['budget']}; left out",
                  file=sys.stderr)
            continue
        out[(r["problem"], r["seed"])] = (r["best"], r["f_star"])
    return out


def speed_up(sequential, parallel, f_star, q):
    """The speed-up of one seed (see the module's doc) and whether it reached the target. Regrets
    compare floored, so that two searches that both reached the optimum count as level."""
    budget = len(sequential)
    half = budget // 2
    target = log_regret(sequential[half - 1], f_star)
    needed = next((i + 1 for i, v in enumerate(parallel[:budget])
                   if log_regret(v, f_star) <= target), None)
    if needed is None:
        return half / (math.ceil(budget / q) + 1), False
    return half / math.ceil(needed / q), True


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("sequential")
    ap.add_argument("parallel")
    ap.add_argument("--q", type=int, required=True, help="runs in flight of the parallel run")
    ap.add_argument("--problems", default="")
    args = ap.parse_args()
    runs, _ = load(args.results)
    seq = records(runs, args.sequential)
    par = records(runs, args.parallel)
    wanted = set(filter(None, args.problems.split(",")))
    per_problem = defaultdict(list)           # problem -> [(speed-up, reached, final diff)]
    for key in sorted(set(seq) & set(par)):
        problem, _ = key
        if wanted and problem not in wanted:
            continue
        (s_best, f_star), (p_best, _) = seq[key], par[key]
        if len(s_best) < 2 or len(p_best) != len(s_best):
            continue
        up, reached = speed_up(s_best, p_best, f_star, args.q)
        diff = log_regret(p_best[-1], f_star) - log_regret(s_best[-1], f_star)
        per_problem[problem].append((up, reached, diff))
    if not per_problem:
        sys.exit(f"broad_in_flight: no problem and seed that both {args.sequential!r} and "
                 f"{args.parallel!r} ran in {args.results}")
    groups = defaultdict(list)
    for p in per_problem:
        groups["all"].append(p)
        groups[broad_problems.family(p)].append(p)
    target = args.q / 2
    seeds = sorted({len(v) for v in per_problem.values()})
    print(f"{args.parallel} ({args.q} in flight) against {args.sequential} (one at a time): "
          f"{len(per_problem)} problems, {'/'.join(map(str, seeds))} seeds each; target "
          f"speed-up {target:g}")
    print()
    print("| problems | n | median speed-up [Q1, Q3] (of per-problem medians) | problems meeting "
          f"{target:g} | seeds that reached the target regret | final log10 regret, parallel "
          "minus sequential, median [Q1, Q3] |")
    print("|---|---|---|---|---|---|")
    for name in ["all"] + sorted(g for g in groups if g != "all"):
        ps = groups[name]
        medians = [float(np.median([u for u, _, _ in per_problem[p]])) for p in ps]
        meeting = sum(m >= target for m in medians)
        reached = [r for p in ps for _, r, _ in per_problem[p]]
        diffs = [float(np.median([d for _, _, d in per_problem[p]])) for p in ps]
        q1, med, q3 = np.percentile(medians, [25, 50, 75])
        d1, dm, d3 = np.percentile(diffs, [25, 50, 75])
        print(f"| {name} | {len(ps)} | {med:.2f} [{q1:.2f}, {q3:.2f}] | {meeting} "
              f"({meeting / len(ps):.0%}) | {sum(reached)} of {len(reached)} | "
              f"{dm:+.2f} [{d1:+.2f}, {d3:+.2f}] |")
    slowest = sorted((float(np.median([u for u, _, _ in v])), p) for p, v in per_problem.items())
    print()
    print("lowest median speed-ups: " + ", ".join(f"{p} {u:.2f}" for u, p in slowest[:8]))


if __name__ == "__main__":
    main()
