"""Where hpsearch stands on the broad benchmark, from the records kept in the repository alone:
the table that opens docs/benchmarks.md, one row per set of problems, nothing re-run.

    bash bench/anchors.sh --standing            # the deterministic sets (seconds)
    bash bench/anchors.sh --standing --noisy    # and the held-out noisy sets (minutes: each run's
                                                # best settings are scored without noise)
    bash bench/anchors.sh --standing --seeds 10-19   # seeds no default was decided on, where
                                                     # their runs are kept (0-19: twenty seeds)

Ours is `bench/broad_results/ours/defaults.jsonl.gz` (and `bench/noisy_results/ours/`), the
defaults' runs; the references are the other files there. A set's references are those that
ran every problem of the set on the set's seeds, so a reference whose records are partial (HEBO
on part of the models) is left out of that row rather than shrinking it. For each set, through bench/broad_summary.py's analysis: ours' mean rank by
median final log10 regret and the best other solver's, the share of problems where ours' median
is at least as good as the best reference's median (issue 16 asks 80% over all problems), how
many of the gaps lie beyond the seeds' noise (Mann-Whitney U, p < 0.05), how hard the share is
(the highest share any reference reaches against the best median of all the others, ours among
them), and the median seconds
per suggestion, ours and Optuna's GPSampler's. Then the share per family of problems over every
deterministic set. Run from the harness folder (it imports the harness's summarize.py).
"""
import argparse
import gzip
import json
import os
import sys
import tempfile
from collections import defaultdict

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import broad_problems  # noqa: E402
from broad_summary import analyse  # noqa: E402
from run import parse_seeds  # noqa: E402
from summarize import summarize  # noqa: E402

OURS = "hpsearch"
SEEDS = list(range(10))


def _bbob(dim, instances):
    return [f"bbob_f{f:02d}_d{dim}_i{i}" for i in instances for f in range(1, 25)]


def deterministic_sets(seeds=SEEDS):
    """(name, problems, seeds) of every set in the standing table; together the 164 problems of
    the broad benchmark that were run (BBOB instances 2-3 in 2 D only)."""
    models = broad_problems.MODEL_NAMES
    return [
        ("BBOB 2 D instance 1 and the six anchors", _bbob(2, [1]) + list(broad_problems.ANCHORS), seeds),
        ("BBOB 2 D instances 2-3", _bbob(2, [2, 3]), seeds),
        ("BBOB 5 D", _bbob(5, [1]), seeds),
        ("BBOB 10 D", _bbob(10, [1]), seeds),
        ("BBOB 20 D", _bbob(20, [1]), seeds),
        (f"{len(models)} scikit-learn models", models, seeds),
    ]


def noisy_sets():
    import noisy_problems
    bbob = {d: [p.name for p in noisy_problems.NOISY_BROAD if p.dim == d] for d in (2, 5, 10)}
    return [
        ("noisy BBOB 2 D (instance 4, two noise models)", bbob[2], SEEDS),
        ("noisy BBOB 5 D", bbob[5], SEEDS),
        ("noisy BBOB 10 D", bbob[10], SEEDS),
        ("10 models cross-validated on a fresh split each time",
         [p.name for p in noisy_problems.NOISY_MODELS], SEEDS),
    ]


def load(folder):
    """solver -> {(problem, seed): record line}, ours under OURS."""
    records = defaultdict(dict)
    paths = [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".jsonl.gz")]
    paths.append(os.path.join(folder, "ours", "defaults.jsonl.gz"))
    if not os.path.exists(paths[-1]):
        sys.exit(f"standing: no kept runs of ours in {paths[-1]} (bench/anchors.sh --broad with "
                 f"the defaults makes them; copy its records of ours there)")
    for path in paths:
        with gzip.open(path, "rt") as f:
            for line in f:
                if not line.strip():
                    continue
                run = json.loads(line)
                solver = OURS if path.endswith(os.path.join("ours", "defaults.jsonl.gz")) else run["solver"]
                if run.get("status") == "ok":
                    records[solver][(run["problem"], run["seed"])] = line
    return records


def set_folder(records, problems, seeds, out, allow_missing=False):
    """Writes the set's runs of ours and of every reference that ran all of it on those seeds;
    the references so chosen (None where ours has not run all of it and `allow_missing`)."""
    wanted = [(p, s) for p in problems for s in seeds]
    references = [solver for solver in sorted(records)
                  if solver != OURS and all(key in records[solver] for key in wanted)]
    missing = [key for key in wanted if key not in records[OURS]]
    if missing and not allow_missing:
        sys.exit(f"standing: no kept run of ours on {missing[0][0]} seed {missing[0][1]} "
                 f"(bench/broad_results/ours/defaults.jsonl.gz)")
    if missing:
        return None
    for solver in [OURS, *references]:
        with open(os.path.join(out, f"{solver}.jsonl"), "w") as f:
            for key in wanted:
                run = json.loads(records[solver][key])
                run["solver"] = solver
                f.write(json.dumps(run) + "\n")
    return references


def row(name, folder, problems, seeds, references, families):
    if not references:
        # Ours alone: nothing to rank against, so the row says so rather than ranking one solver.
        return (f"| {name} ({len(problems)}) | {seeds[0]}-{seeds[-1]} | no reference has run the "
                f"whole set on these seeds | | | | | | | |"), 0, 0, 0
    _, bad, found, solvers, stats, _, _, _ = summarize(folder)
    a = analyse(stats, found, solvers, OURS, set(problems))
    mean_rank = {s: np.mean(a["ranks"][s]) for s in solvers}
    best_other = min((s for s in solvers if s != OURS), key=mean_rank.get)
    place = 1 + sum(mean_rank[s] < mean_rank[OURS] for s in solvers)
    ours_rank = f"{mean_rank[OURS]:.2f} of {len(solvers)}"
    ours_rank = f"**{ours_rank}**" if place == 1 else f"{ours_rank} ({_ordinal(place)})"
    hits = a["at_least_best"]
    for p, hit in zip(a["complete"], hits):
        families[broad_problems.family(p)].append(hit)
    gp = f"{a['spp']['optuna_gp'] * 1000:.1f} ms" if "optuna_gp" in solvers else "-"
    # How hard the share is: the highest count any reference reaches against all the others.
    own = {s: count for s, count in a["own"].items() if s != OURS}
    hardest = max(own, key=own.get)
    seeds_text = f"{seeds[0]}-{seeds[-1]}"
    return (f"| {name} ({len(a['complete'])}) | {seeds_text} | {', '.join(references)} "
            f"| {ours_rank} | {best_other} {mean_rank[best_other]:.2f} "
            f"| {sum(hits)} ({sum(hits) / len(hits):.0%}) | {len(a['behind_beyond_noise'])} of "
            f"{len(hits) - sum(hits)} | {len(hits) - len(a['beaten_beyond_noise'])} "
            f"| {hardest} {own[hardest]} ({own[hardest] / len(hits):.0%}) "
            f"| {a['spp'][OURS] * 1000:.1f} ms / {gp} |"), sum(hits), len(hits), len(bad)


def _ordinal(place):
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(place, f"{place}th")


def table(title, sets, records, rescore=None, allow_missing=False):
    print(f"### {title}")
    print()
    print("| set (problems) | seeds | references | ours: mean rank | best of the others | ours ≥ best "
          "reference's median | behind it beyond the noise | no reference better beyond the "
          "noise | the best reference's own share | s/suggestion: ours / Optuna GP |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    families = defaultdict(list)
    total_hits = total = failed = 0
    for name, problems, seeds in sets:
        with tempfile.TemporaryDirectory() as folder:
            references = set_folder(records, problems, seeds, folder, allow_missing)
            if references is None:
                print(f"| {name} ({len(problems)}) | {seeds[0]}-{seeds[-1]} | ours has no kept runs "
                      f"of the whole set on these seeds | | | | | | | |")
                continue
            if rescore:
                folder = rescore(folder)
            line, hits, count, bad = row(name, folder, problems, seeds, references, families)
        print(line)
        total_hits, total, failed = total_hits + hits, total + count, failed + bad
    print()
    if total:
        print(f"Over the {total} problems: ours at least as good as the best reference's median on "
              f"{total_hits} ({total_hits / total:.0%})." + (f" {failed} failed records." if failed else ""))
    return families


def rescore_noiseless(folder):
    import noisy_regret
    out = folder + "/noiseless"
    noisy_regret.noiseless(folder, out)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--noisy", action="store_true", help="also the held-out noisy sets (minutes)")
    ap.add_argument("--seeds", default=None,
                    help="other seeds than 0-9, e.g. 10-19 (seeds no default was decided on) or "
                         "0-19; a set is shown where ours and a reference have run all of it")
    args = ap.parse_args()
    seeds = SEEDS
    if args.seeds:
        try:
            seeds = parse_seeds(args.seeds)
        except ValueError:
            seeds = []
        if not seeds:
            sys.exit(f"standing: --seeds '{args.seeds}' is not a range such as 10-19")
    title = "The broad benchmark (deterministic; every default is decided on it)"
    if args.seeds:
        title = f"The broad benchmark on seeds {args.seeds} (every default was decided on seeds 0-9)"
    families = table(title, deterministic_sets(seeds), load(os.path.join(HERE, "broad_results")),
                     allow_missing=bool(args.seeds))
    print()
    print("| family | problems | ours ≥ best reference's median |")
    print("|---|---|---|")
    for family, hits in sorted(families.items()):
        print(f"| {family} | {len(hits)} | {sum(hits)} ({sum(hits) / len(hits):.0%}) |")
    if args.noisy:
        print()
        table("The noisy sets (held out: no default was decided on them; scored by the noiseless "
              "loss at each run's best settings)", noisy_sets(),
              load(os.path.join(HERE, "noisy_results")), rescore=rescore_noiseless)


if __name__ == "__main__":
    main()
