"""Two versions of our solver on the broad benchmark, side by side: is a change a gain?

    python3 bench/broad_compare.py RESULTS_DIR BASE VARIANT [--problems P,Q]

BASE and VARIANT are solver names in the harness's records (RESULTS_DIR/*.jsonl), e.g. two
`ext:/path/to/hpsearch ask-tell` builds, or one build under two HPSEARCH_SOLVER_CONFIG settings
copied to two paths (`HPSEARCH_SOLVER=path bash bench/anchors.sh --broad` runs a build). Run from
the harness folder (summarize.py must be importable). Each problem counts on the seeds that every
solver ran on it, so a variant screened on a few seeds is compared on those.

Printed, over all problems, per family (bench/broad_problems.py's families) and per dimension of
the BBOB problems: the number of
problems where the variant's median final log10 regret is lower / higher than the base's by more
than --margin decades (default 0.1), the median and interquartile range of the per-problem
difference of medians (negative: the variant is better), and a paired sign test over the
problems' per-seed differences (the share of seed pairs the variant wins). Then the mean rank of
each against the references in the records (every other solver), the base and the variant in
turn, and the share of problems where each is at least as good as the best reference's median:
the two numbers a default is decided on (issue 16).
"""
import argparse
import os
import sys
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import broad_problems  # noqa: E402
from summarize import rankdata, summarize  # noqa: E402


def standing(stats, problems, ours, references):
    """Mean rank of `ours` among `ours` + references, and its share of problems >= best ref."""
    ranks, at_least = [], []
    for p in problems:
        field = [ours] + references
        ranks.append(rankdata([stats[(p, s)]["fin_med"] for s in field])[0])
        if references:
            at_least.append(stats[(p, ours)]["fin_med"]
                            <= min(stats[(p, s)]["fin_med"] for s in references))
    share = sum(at_least) / len(at_least) if at_least else float("nan")
    return float(np.mean(ranks)), share, sum(at_least)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("base")
    ap.add_argument("variant")
    ap.add_argument("--problems", default="")
    ap.add_argument("--margin", type=float, default=0.1)
    args = ap.parse_args()
    _, _, problems, solvers, stats, _, _, _ = summarize(args.results)
    for s in (args.base, args.variant):
        if s not in solvers:
            sys.exit(f"broad_compare: no records of {s!r} in {args.results}; solvers: {solvers}")
    wanted = set(filter(None, args.problems.split(",")))
    references = [s for s in solvers if s not in (args.base, args.variant)]
    both = [p for p in problems
            if (not wanted or p in wanted)
            and (p, args.base) in stats and (p, args.variant) in stats]
    complete = [p for p in both if all((p, r) in stats for r in references)]
    # Every solver of a problem on the seeds they all ran (a variant screened on fewer seeds
    # is compared on those).
    for p in both:
        field = [s for s in solvers if (p, s) in stats]
        common = set.intersection(*(set(stats[(p, s)]["seeds"]) for s in field))
        for s in field:
            st = stats[(p, s)]
            st["fin"] = [f for f, seed in zip(st["fin"], st["seeds"]) if seed in common]
            st["seeds"] = [seed for seed in st["seeds"] if seed in common]
            st["fin_med"] = float(np.median(st["fin"])) if st["fin"] else float("nan")
    both = [p for p in both if stats[(p, args.base)]["fin"]]
    complete = [p for p in complete if p in both]

    groups = defaultdict(list)
    for p in both:
        groups["all"].append(p)
        groups[broad_problems.family(p)].append(p)
        dim = next((part[1:] for part in p.split("_") if part[:1] == "d" and part[1:].isdigit()),
                   None)
        if dim:
            groups[f"BBOB, {int(dim):2d} dimensions"].append(p)
    print(f"{args.variant} against {args.base}: {len(both)} problems, margin {args.margin} decades")
    print()
    print("| problems | n | variant better | variant worse | median diff [Q1, Q3] | seed pairs won |")
    print("|---|---|---|---|---|---|")
    for name in ["all"] + sorted(g for g in groups if g != "all"):
        ps = groups[name]
        diffs = [stats[(p, args.variant)]["fin_med"] - stats[(p, args.base)]["fin_med"] for p in ps]
        better = sum(d < -args.margin for d in diffs)
        worse = sum(d > args.margin for d in diffs)
        pairs = [v - b for p in ps
                 for v, b in zip(stats[(p, args.variant)]["fin"], stats[(p, args.base)]["fin"])]
        won = sum(d < 0 for d in pairs) / max(1, sum(d != 0 for d in pairs))
        q1, med, q3 = np.percentile(diffs, [25, 50, 75])
        print(f"| {name} | {len(ps)} | {better} | {worse} | {med:+.3f} [{q1:+.3f}, {q3:+.3f}] "
              f"| {won:.0%} |")
    if references and complete:
        print()
        print(f"against {', '.join(references)} on the {len(complete)} problems they all ran:")
        for s in (args.base, args.variant):
            rank, share, count = standing(stats, complete, s, references)
            print(f"  {s}: mean rank {rank:.2f} of {len(references) + 1}, at least as good as the "
                  f"best reference on {count} of {len(complete)} ({share:.0%})")
    worst = sorted(((stats[(p, args.variant)]["fin_med"] - stats[(p, args.base)]["fin_med"], p)
                    for p in both), reverse=True)
    print()
    print("variant's largest losses: " + ", ".join(f"{p} {d:+.2f}" for d, p in worst[:6] if d > 0))
    print("variant's largest gains: " + ", ".join(f"{p} {d:+.2f}" for d, p in worst[::-1][:6]
                                                 if d < 0))


if __name__ == "__main__":
    main()
