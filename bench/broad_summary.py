"""The broad benchmark's table: how hpsearch ranks against the reference optimizers over many
problems, and per family of problems (`bash bench/anchors.sh --broad` prints it).

    python3 bench/broad_summary.py RESULTS_DIR [--problems P,Q] [--ours SOLVER] [--per-problem]

Reads the harness's records (RESULTS_DIR/*.jsonl) through its summarize.py (which must be
importable: run from the harness folder). Only problems that every solver ran, on the same
seeds, count. For each problem the solvers are ranked by their median final log10 regret (1 =
best, ties share the mean rank). Printed: each solver's mean rank over all problems and per family
(bench/broad_problems.py's families; the anchor suite is one), and for ours the share of problems
where its median is at least as good as the best reference's median (`>= best`), its median
regret's margin to that best (negative: ours is better), and the median seconds per suggestion.
Then which of those gaps lie beyond the seeds' noise: with ten seeds a median moves by tenths of
a decade from seed to seed, and on a problem whose runs end in one of two basins it jumps between
them, so each gap is tested (Mann-Whitney U on the seeds' final log10 regrets, two-sided,
p < 0.05), and so is ours against every reference (one-sided): the problems where no reference
is better than ours beyond the noise.
How far the share itself moves with the seeds: each problem's seeds drawn again with replacement
(the same draw for every solver; 2,000 times; fixed random seed), the share's mean and 5th-95th
percentiles (a rough spread: the best of several redrawn medians is biased low, so the mean of
the draws sits below the observed share). And
how hard it is to reach: every solver's own share of problems where its median is at least as
good as the best median of all the others (ours among them).
With --per-problem, then every problem's median final log10 regret per solver, the best in bold.
"""
import argparse
import math
import os
import sys
from collections import defaultdict

import numpy as np
from scipy.stats import mannwhitneyu

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import broad_problems  # noqa: E402
from summarize import rankdata, summarize  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--problems", default="", help="comma list: only these problems count "
                                                   "(default: every problem in the records)")
    ap.add_argument("--ours", default="", help="our solver's name in the records (default: the one "
                                               "whose name starts with ext:)")
    ap.add_argument("--per-problem", action="store_true",
                    help="also print each problem's median final log10 regret per solver")
    args = ap.parse_args()
    _, bad, problems, solvers, stats, _, _, _ = summarize(args.results)
    ours = args.ours or next((s for s in solvers if s.startswith("ext:")), "")
    if ours not in solvers:
        sys.exit(f"broad_summary: no records of our solver in {args.results}")
    wanted = set(filter(None, args.problems.split(",")))
    a = analyse(stats, problems, solvers, ours, wanted)
    report(a, stats, solvers, ours, len(bad), args.per_problem)


def analyse(stats, problems, solvers, ours, wanted=()):
    """Ranks and shares over the problems that every solver ran on the same seeds (of `wanted`,
    when given): what the table and the lines under it print, and what bench/standing.py
    gathers set by set."""
    seeds_of = lambda p, s: tuple(stats[(p, s)]["seeds"])  # noqa: E731
    complete = [p for p in problems
                if (not wanted or p in wanted)
                and all((p, s) in stats for s in solvers)
                and len({seeds_of(p, s) for s in solvers}) == 1]
    left_out = sorted((set(wanted) or set(problems)) - set(complete))
    references = [s for s in solvers if s != ours]
    ranks = defaultdict(list)                       # solver -> ranks
    family_ranks = defaultdict(lambda: defaultdict(list))
    at_least_best, margins = [], []
    behind_beyond_noise, beaten_beyond_noise = [], []
    for p in complete:
        meds = [stats[(p, s)]["fin_med"] for s in solvers]
        fam = broad_problems.family(p)
        for s, r in zip(solvers, rankdata(meds)):
            ranks[s].append(r)
            family_ranks[fam][s].append(r)
        if references:
            best_name = min(references, key=lambda s: stats[(p, s)]["fin_med"])
            best_ref = stats[(p, best_name)]["fin_med"]
            mine = stats[(p, ours)]["fin_med"]
            at_least_best.append(mine <= best_ref)
            margins.append(mine - best_ref)
            if mine > best_ref:
                gap_p = mannwhitneyu(stats[(p, ours)]["fin"], stats[(p, best_name)]["fin"],
                                     alternative="two-sided").pvalue
                if gap_p < 0.05:
                    behind_beyond_noise.append((p, best_name, mine - best_ref, gap_p))
            if any(mannwhitneyu(stats[(p, ours)]["fin"], stats[(p, s)]["fin"],
                                alternative="greater").pvalue < 0.05 for s in references):
                beaten_beyond_noise.append(p)
    spp = {s: (np.median([stats[(p, s)]["spp_med"] for p in complete]) if complete else math.nan)
           for s in solvers}
    # How hard the share is to reach: each solver's own count of problems where its median is at
    # least as good as the best median of all the others (ours among them).
    own = {s: sum(stats[(p, s)]["fin_med"] <= min(stats[(p, o)]["fin_med"] for o in solvers if o != s)
                  for p in complete)
           for s in solvers}
    return {
        "complete": complete, "left_out": left_out, "references": references,
        "seeds": sorted({x for p in complete for x in seeds_of(p, ours)}),
        "ranks": ranks, "family_ranks": family_ranks,
        "order": sorted(solvers, key=lambda s: np.mean(ranks[s]) if ranks[s] else math.inf),
        "at_least_best": at_least_best, "margins": margins,
        "behind_beyond_noise": behind_beyond_noise, "beaten_beyond_noise": beaten_beyond_noise,
        "spp": spp, "own": own,
    }


def report(a, stats, solvers, ours, failed, per_problem):
    complete, ranks, family_ranks = a["complete"], a["ranks"], a["family_ranks"]
    at_least_best, margins = a["at_least_best"], a["margins"]
    behind_beyond_noise, references = a["behind_beyond_noise"], a["references"]
    name = lambda s: "hpsearch (ours)" if s == ours else s  # noqa: E731
    seeds = a["seeds"]
    print(f"broad benchmark: {len(complete)} problems every solver ran on seeds "
          f"{seeds[0] if seeds else '-'}-{seeds[-1] if seeds else '-'} ({len(seeds)} seeds); "
          f"{len(a['left_out'])} left out (not run by every solver), {failed} failed records")
    order = a["order"]
    families = sorted(family_ranks)
    print()
    print("| solver | mean rank | " + " | ".join(f"{f} ({len(family_ranks[f][ours])})"
                                               for f in families) + " | s/suggestion (median) |")
    print("|---|---|" + "---|" * len(families) + "---|")
    for s in order:
        cells = " | ".join(f"{np.mean(family_ranks[f][s]):.2f}" for f in families)
        print(f"| {name(s)} | {np.mean(ranks[s]):.2f} | {cells} | {a['spp'][s]:.4f} |")
    if at_least_best:
        share = sum(at_least_best) / len(at_least_best)
        q1, med, q3 = np.percentile(margins, [25, 50, 75])
        print()
        print(f"hpsearch at least as good as the best reference's median on {sum(at_least_best)} "
              f"of {len(at_least_best)} problems ({share:.0%}); its median log10 regret minus the "
              f"best reference's: median {med:+.2f} [Q1 {q1:+.2f}, Q3 {q3:+.2f}]")
        worst = sorted(zip(margins, complete), reverse=True)[:8]
        print("largest gaps to the best reference (decades): "
              + ", ".join(f"{p} {m:+.2f}" for m, p in worst if m > 0))
        behind = len(at_least_best) - sum(at_least_best)
        print(f"of the {behind} problems where it is behind the best reference's median, behind "
              f"beyond the seeds' noise (Mann-Whitney U, p < 0.05) on {len(behind_beyond_noise)}"
              + (": " + ", ".join(f"{p} ({s} {m:+.2f}, p = {pv:.3f})"
                                  for p, s, m, pv in behind_beyond_noise)
                 if behind_beyond_noise else ""))
        mean, low, high = share_interval(stats, complete, ours, references)
        print(f"that share with the seeds drawn again (bootstrap, 2,000 draws, a rough spread: "
              f"biased low by the best of several redrawn medians): mean {mean:.0%}, 5th-95th "
              f"percentile {low:.0%}-{high:.0%}")
        own = a["own"]
        print("each solver's own share, at least as good as the best median of all the others: "
              + ", ".join(f"{name(s)} {own[s]} ({own[s] / len(complete):.0%})"
                          for s in sorted(solvers, key=lambda s: -own[s])))
        clear = len(at_least_best) - len(a["beaten_beyond_noise"])
        print(f"no reference better than hpsearch beyond the noise (one-sided, p < 0.05) on "
              f"{clear} of {len(at_least_best)} problems ({clear / len(at_least_best):.0%})")
    if per_problem:
        print()
        print("| problem | " + " | ".join(name(s) for s in order) + " |")
        print("|---|" + "---|" * len(order))
        for p in complete:
            meds = [stats[(p, s)]["fin_med"] for s in order]
            best = min(meds)
            cells = " | ".join(f"**{m:.2f}**" if m == best else f"{m:.2f}" for m in meds)
            print(f"| {p} | {cells} |")


def share_interval(stats, problems, ours, references, draws=2000):
    """The mean and the 5th and 95th percentiles of ours' share (median at least as good as the
    best reference's) when each problem's seeds are drawn again with replacement (the same draw
    for every solver). A rough spread, not a confidence interval: the best of several redrawn
    medians is biased low, so the draws' mean sits below the observed share, the more so with
    more references."""
    rng = np.random.default_rng(0)
    finals = {(p, s): np.asarray(stats[(p, s)]["fin"], dtype=float)
              for p in problems for s in [ours, *references]}
    shares = []
    for _ in range(draws):
        count = 0
        for p in problems:
            picked = rng.integers(0, len(finals[(p, ours)]), size=len(finals[(p, ours)]))
            med = {s: np.median(finals[(p, s)][picked]) for s in [ours, *references]}
            count += med[ours] <= min(med[s] for s in references)
        shares.append(count / len(problems))
    return np.mean(shares), np.percentile(shares, 5), np.percentile(shares, 95)


if __name__ == "__main__":
    main()
