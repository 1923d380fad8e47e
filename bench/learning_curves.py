#!/usr/bin/env python3
"""Early stopping on learning-curve problems (issue 17): hpsearch's rules beside Optuna's pruners,
at equal total steps.

    bash bench/learning_curves.sh            # builds the wheel, a venv, runs, prints the tables
    python bench/learning_curves.py run --seeds 0-9 [--problems ...] [--methods ...] [--jobs 2]
    python bench/learning_curves.py summary  # the tables from the kept records

Each problem trains one configuration step by step and reports its objective (a loss: lower is
better) after every step, up to `max_step`:

- `mlp_digits`: scikit-learn's MLPClassifier on the bundled digits, one epoch of `partial_fit`
  per step (27), validation log-loss; learning rate, L2, width, batch size.
- `sgd_digits`: SGDClassifier on digits, one epoch per step (27), validation error; alpha,
  eta0, the learning-rate schedule and the loss (categoricals).
- `gbm_breast_cancer`: gradient boosting on the bundled breast-cancer data, one boosting round per
  step (81, `warm_start`), validation log-loss; learning rate, depth,
  subsample, leaf size.
- `sgd_breast_cancer`: logistic regression by SGD on breast cancer, one epoch per step (27),
  validation log-loss; alpha, eta0, the schedule and the penalty.
- `sgd_diabetes`: linear regression by SGD on diabetes, one epoch per step (27), validation
  1 − R²; alpha, eta0, the schedule and the loss.
- `mlp_breast_cancer`: MLPClassifier on breast cancer, one epoch per step (27), validation
  log-loss; as `mlp_digits`.
- `gbm_diabetes`: gradient boosting regression on diabetes, one round per step (81), validation
  1 − R²; as `gbm_breast_cancer`.
- `hgb_digits`: histogram gradient boosting on digits, one iteration per step (27), validation
  log-loss; learning rate, leaves, leaf size, L2.
- `crossing_d4`: a synthetic curve with crossings, loss(x, t) = q(x) + exp(-r(x0)·t): a high x0
  learns fast but ends worse (q grows with x0 past 0.25), so the runs that look best early are
  not the ones that end best. Its optimum at max_step (81) is known, so it reports regret.
- `ordered_d4`: the opposite, loss(x, t) = q(x) + (0.2 + q(x)) exp(-0.05 t): every run learns at
  the same pace, so the order of the runs is the same at every step (asha's ideal case); known
  optimum, log10 regret.

A method draws configurations and trains them until the budget of total steps (`--budget` full
runs' worth, default 15 · max_step) is spent; a run that the budget cuts short counts as
neither finished nor pruned. Its result is the best objective among the runs that reached
max_step (what a user would deploy), traced against the steps spent. Methods:

- `hp_none`: hpsearch bopt, every run to its end (the reference for "the final regret of no
  stopping").
- `hp_median`, `hp_asha`, `hp_hyperband`: hpsearch bopt with that `early_stopping` rule (its
  defaults; asha/hyperband with min_step 1, max_step the problem's, reduction_factor 3, and
  `order_check` false: the rules as published), pruned runs given to the model at their last
  value as if whole (a search's choice until 2026-12-03).
- `hp_asha_left_out`, `hp_asha_worst`: bopt + asha, with pruned runs left out of the model, or
  imputed as worse than every success, instead of at their last value (issue 17's "bopt must
  not be misled by pruned runs").
- `hp_median_at_step`, `hp_asha_at_step`, `hp_hyperband_at_step`: the same rules, with the
  model told where on its curve each pruned run's last value was taken (the share of max_step
  it reached, one more GP feature; candidates scored at a whole run's end): a model of the
  learning curve, the issue's third treatment; a search's choice since 2026-12-03.
- `hp_asha_checked`, `hp_hyperband_checked`: the `_at_step` methods with `order_check` (a rung
  judges only once the runs' order there has held at a later step): hpsearch's defaults since
  2026-12-05.
- `hp_asha_random3`, `hp_hyperband_random3`: the `_at_step` methods with a third of bopt's
  suggestions random (BOHB's share; measured 2026-12-05, dropped).
- `hp_random_asha`: hpsearch random search with asha as published.
- `hp_asha_highest_rung`, `hp_hyperband_highest_rung`: bopt fitted as BOHB fits its model, on
  each run's objective at the highest rung (or max_step) that dims + 1 runs reached, runs stopped
  below it left out (issue 17's fourth treatment).
- `optuna_tpe_median`, `optuna_tpe_hyperband`: Optuna's TPESampler with MedianPruner /
  HyperbandPruner (min_resource 1, max_resource max_step, reduction_factor 3).
- `optuna_random_sha`: Optuna's RandomSampler with SuccessiveHalvingPruner (ASHA; min_resource
  1, reduction_factor 3).

Records go to bench/learning_curve_results/<method>.jsonl (one line per problem and seed, with
the trace); `summary` prints, per problem, the median final objective (regret for the synthetic
problem) over the seeds with its interquartile range, the mean rank, and the share of the
budget each method needed to reach the final value of `hp_none` on the same seed.
"""

import argparse
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import records
from learning_curve_problems import PROBLEMS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# LC_RESULTS: another folder of records (a budget other than the default 15 full runs must not
# mix with the kept records, which the summary compares as one budget).
RESULTS = os.environ.get("LC_RESULTS") or os.path.join(ROOT, "bench", "learning_curve_results")


# ---------------------------------------------------------------------------------------------
# Methods


class Budget:
    """Total steps spent, and the trace of the best finished run against them."""

    def __init__(self, total, max_step):
        self.total, self.max_step = total, max_step
        self.used = 0
        self.best = math.inf
        self.trace = []  # (steps used, best finished objective), at each improvement
        self.trials = self.finished = self.pruned = 0

    def left(self):
        return self.used < self.total

    def finish(self, value):
        self.finished += 1
        if value < self.best:
            self.best = value
            self.trace.append((self.used, value))


def run_hpsearch(problem, budget, seed, search_type, rule, pruned_runs="last_value",
                 order_check=False, extra=None):
    import hpsearch

    config = {"search_type": search_type, "y_transformation": "none", "max_suggestions": 100000}
    config.update(extra or {})
    if rule == "median":
        config["early_stopping"] = {"rule": "median"}
    elif rule in ("asha", "hyperband"):
        config["early_stopping"] = {"rule": rule, "min_step": 1, "max_step": problem.max_step,
                                    "reduction_factor": 3}
        # Said either way: the default changed to true on 2026-12-05, and the methods without
        # `_checked` in their names are asha and hyperband as published.
        config["early_stopping"]["order_check"] = order_check
    optimizer = hpsearch.Optimizer(records.hpsearch_model(problem.space), config, seed=seed)
    optimizer._native.set_pruned_runs(pruned_runs)
    suggest = 0.0
    while budget.left():
        started = time.perf_counter()
        trial = optimizer.ask()
        suggest += time.perf_counter() - started
        budget.trials += 1
        for step, value in enumerate(problem.curve(dict(trial.params)), 1):
            budget.used += 1
            stop = optimizer.report(trial, step, value)
            if step == problem.max_step:
                optimizer.tell(trial, value)
                budget.finish(value)
                break
            if not budget.left():
                optimizer.tell(trial, "cancelled")
                break
            if stop:
                optimizer.tell(trial, "pruned")
                budget.pruned += 1
                break
    return suggest


def run_optuna(problem, budget, seed, sampler_name, pruner_name):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (optuna.samplers.TPESampler(seed=seed) if sampler_name == "tpe"
               else optuna.samplers.RandomSampler(seed=seed))
    pruner = {
        "median": lambda: optuna.pruners.MedianPruner(),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=problem.max_step, reduction_factor=3),
        "sha": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1,
                                                              reduction_factor=3),
    }[pruner_name]()
    study = optuna.create_study(sampler=sampler, pruner=pruner)
    suggest = 0.0
    while budget.left():
        started = time.perf_counter()
        trial = study.ask()
        params = {}
        for p in problem.space:
            if p["type"] == "float":
                params[p["name"]] = trial.suggest_float(p["name"], p["low"], p["high"],
                                                        log=p.get("log", False))
            elif p["type"] == "int":
                params[p["name"]] = trial.suggest_int(p["name"], p["low"], p["high"],
                                                      log=p.get("log", False))
            else:
                params[p["name"]] = trial.suggest_categorical(p["name"], p["choices"])
        suggest += time.perf_counter() - started
        budget.trials += 1
        for step, value in enumerate(problem.curve(params), 1):
            budget.used += 1
            started = time.perf_counter()
            trial.report(value, step)
            prune = trial.should_prune()
            suggest += time.perf_counter() - started
            if step == problem.max_step:
                study.tell(trial, value)
                budget.finish(value)
                break
            if not budget.left():
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                break
            if prune:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                budget.pruned += 1
                break
    return suggest


METHODS = {
    "hp_none": lambda p, b, s: run_hpsearch(p, b, s, "bopt", "none"),
    "hp_median": lambda p, b, s: run_hpsearch(p, b, s, "bopt", "median"),
    "hp_asha": lambda p, b, s: run_hpsearch(p, b, s, "bopt", "asha"),
    "hp_hyperband": lambda p, b, s: run_hpsearch(p, b, s, "bopt", "hyperband"),
    "hp_asha_left_out": lambda p, b, s: run_hpsearch(p, b, s, "bopt", "asha", "left_out"),
    "hp_asha_worst": lambda p, b, s: run_hpsearch(p, b, s, "bopt", "asha", "worst"),
    "hp_median_at_step": lambda p, b, s: run_hpsearch(p, b, s, "bopt", "median",
                                                      "at_their_step"),
    "hp_asha_at_step": lambda p, b, s: run_hpsearch(p, b, s, "bopt", "asha", "at_their_step"),
    "hp_hyperband_at_step": lambda p, b, s: run_hpsearch(p, b, s, "bopt", "hyperband",
                                                         "at_their_step"),
    "hp_asha_checked": lambda p, b, s: run_hpsearch(p, b, s, "bopt", "asha", "at_their_step",
                                                    order_check=True),
    "hp_hyperband_checked": lambda p, b, s: run_hpsearch(p, b, s, "bopt", "hyperband",
                                                         "at_their_step", order_check=True),
    "hp_asha_highest_rung": lambda p, b, s: run_hpsearch(p, b, s, "bopt", "asha",
                                                         "highest_rung"),
    "hp_hyperband_highest_rung": lambda p, b, s: run_hpsearch(p, b, s, "bopt", "hyperband",
                                                              "highest_rung"),
    "hp_asha_random3": lambda p, b, s: run_hpsearch(p, b, s, "bopt", "asha", "at_their_step",
                                                    extra={"random_suggestion_probability": 1 / 3}),
    "hp_hyperband_random3": lambda p, b, s: run_hpsearch(
        p, b, s, "bopt", "hyperband", "at_their_step",
        extra={"random_suggestion_probability": 1 / 3}),
    "hp_random_asha": lambda p, b, s: run_hpsearch(p, b, s, "random", "asha"),
    "optuna_tpe_median": lambda p, b, s: run_optuna(p, b, s, "tpe", "median"),
    "optuna_tpe_hyperband": lambda p, b, s: run_optuna(p, b, s, "tpe", "hyperband"),
    "optuna_random_sha": lambda p, b, s: run_optuna(p, b, s, "random", "sha"),
}


def one(task):
    problem_name, method, seed, full_runs = task
    records.pin_threads()
    problem = PROBLEMS[problem_name]()
    budget = Budget(full_runs * problem.max_step, problem.max_step)
    started = time.perf_counter()
    suggest = METHODS[method](problem, budget, seed)
    return {"problem": problem_name, "method": method, "seed": seed,
            "budget_steps": budget.total, "max_step": problem.max_step,
            "f_star": problem.f_star, "best": budget.best if budget.finished else None,
            "trace": budget.trace, "trials": budget.trials, "finished": budget.finished,
            "pruned": budget.pruned, "suggest_seconds": round(suggest, 3),
            "wall_seconds": round(time.perf_counter() - started, 3)}


def run(args):
    problems = args.problems.split(",") if args.problems else list(PROBLEMS)
    methods = args.methods.split(",") if args.methods else list(METHODS)
    for name in problems + methods:
        if name not in PROBLEMS and name not in METHODS:
            sys.exit(f"unknown problem or method {name!r}; known: {', '.join([*PROBLEMS, *METHODS])}")
    done = set() if args.again else records.kept(RESULTS, methods)
    tasks = [(p, m, s, args.budget) for p in problems for m in methods
             for s in records.seeds(args.seeds) if (p, m, s) not in done]
    print(f"{len(tasks)} runs ({len(done)} kept from earlier)", flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for record in pool.map(one, tasks):
            records.append(RESULTS, record)
            print(f"{record['problem']:18} {record['method']:22} seed {record['seed']:2}: "
                  f"best {record['best']}, {record['trials']} runs, {record['pruned']} pruned, "
                  f"{record['wall_seconds']} s", flush=True)
    summary(args)


def summary(_args=None):
    kept = records.load(RESULTS)
    if not kept:
        sys.exit(f"no records in {RESULTS}: run `python bench/learning_curves.py run` first")
    by = {}
    for r in kept:
        by.setdefault(r["problem"], {}).setdefault(r["method"], {})[r["seed"]] = r
    methods = [m for m in METHODS if any(m in per for per in by.values())]
    ranks_all = {m: [] for m in methods}
    goals = []  # per problem: (problem, medians by method, reach by method)
    for problem, per in by.items():
        common = sorted(set.intersection(*(set(per[m]) for m in methods if m in per)))
        f_star = next(iter(next(iter(per.values())).values()))["f_star"]
        what = "log10 regret at max_step" if f_star is not None else "final objective"
        budget = next(iter(next(iter(per.values())).values()))["budget_steps"]
        print(f"\n{problem}: {what}, median [IQR] over seeds {common[0]}-{common[-1]} "
              f"({len(common)}), budget {budget} steps")
        print("| method | median [IQR] | mean rank | runs (pruned) | steps to reach hp_none's "
              "final, share of budget (median) | solver s |")
        print("|---|---|---|---|---|---|")

        def score(r):
            if r["best"] is None:
                return math.inf
            if f_star is None:
                return r["best"]
            return math.log10(max(r["best"] - f_star, 1e-12))

        ranks = records.mean_ranks(per, [m for m in methods if m in per], common, score)
        medians, reaches = {}, {}
        goals.append((problem, f_star is not None, medians, reaches))
        for m in ranks:
            rs = [per[m][s] for s in common]
            low, mid, high = records.quartiles([score(r) for r in rs])
            reach = []
            for s in common:
                target = per["hp_none"][s]["best"] if "hp_none" in per else None
                r = per[m][s]
                step = next((u for u, v in r["trace"] if target is not None and v <= target),
                            None)
                reach.append(step / r["budget_steps"] if step is not None else math.inf)
            reach_mid = statistics.median(reach)
            reached = sum(1 for x in reach if math.isfinite(x))
            runs = statistics.median(r["trials"] for r in rs)
            pruned = statistics.median(r["pruned"] for r in rs)
            solver = statistics.median(r["suggest_seconds"] for r in rs)
            ranks_all[m].append(ranks[m])
            reach_text = f"{reach_mid:.2f}" if math.isfinite(reach_mid) else "not reached"
            medians[m], reaches[m] = mid, reach_mid
            print(f"| {m} | {mid:.4g} [{low:.4g}, {high:.4g}] | {ranks[m]:.2f} "
                  f"| {runs:g} ({pruned:g}) | {reach_text} ({reached}/{len(common)} seeds) "
                  f"| {solver:.2f} |")
    print("\nmean rank over the problems each method ran (each problem's mean rank over seeds; "
          "methods that ran on fewer problems were ranked among fewer rivals):")
    for m in sorted(methods, key=lambda m: statistics.mean(ranks_all[m]) if ranks_all[m] else 99):
        if ranks_all[m]:
            print(f"  {m:26} {statistics.mean(ranks_all[m]):.2f} ({len(ranks_all[m])} problems)")
    # The fair table: only the methods that ran on every problem, ranked among themselves.
    everywhere = [m for m in methods if all(m in per for per in by.values())]
    if len(everywhere) > 1 and len(everywhere) < len(methods):
        ranked = {m: [] for m in everywhere}
        for problem, per in by.items():
            common = sorted(set.intersection(*(set(per[m]) for m in everywhere)))
            f_star = next(iter(per[everywhere[0]].values()))["f_star"]

            def score(r, f_star=f_star):
                if r["best"] is None:
                    return math.inf
                return r["best"] if f_star is None else math.log10(max(r["best"] - f_star, 1e-12))

            for m, rank in records.mean_ranks(per, everywhere, common, score).items():
                ranked[m].append(rank)
        print(f"\nmean rank over all {len(by)} problems, among the {len(everywhere)} methods "
              "that ran on every one:")
        print("| method | mean rank |\n|---|---|")
        for m in sorted(everywhere, key=lambda m: statistics.mean(ranked[m])):
            print(f"| {m} | {statistics.mean(ranked[m]):.2f} |")
    goals_table(goals)


# The rule whose standing against issue 17's two goals is printed: asha with the order check,
# first by mean rank (docs/benchmarks.md, "Early stopping").
GOAL_METHOD = "hp_asha_checked"


def goals_table(goals):
    """Issue 17's goals for GOAL_METHOD, problem by problem: its median beside no stopping's and
    the best Optuna pair's (ahead, level or behind), and the share of the budget it spent before
    its best whole run was as good as no stopping's final (the goal: at most a third)."""
    rows = [g for g in goals if GOAL_METHOD in g[2]]
    if not rows:
        return
    print(f"\nissue 17's goals for {GOAL_METHOD}, median over the seeds (log10 regret on the "
          "synthetic curves, the final objective on the models):")
    print("| problem | no stopping | ours | best Optuna pair | ours against it | share of the "
          "budget to reach no stopping's final (goal ≤ 0.33) |")
    print("|---|---|---|---|---|---|")
    ahead = level = within_third = 0
    for problem, _, medians, reaches in rows:
        optuna = [m for m in medians if m.startswith("optuna_")]
        best = min(optuna, key=medians.get) if optuna else None
        ours = medians[GOAL_METHOD]
        if best is None:
            verdict = "-"
        elif ours < medians[best]:
            verdict, ahead = "ahead", ahead + 1
        elif ours == medians[best]:
            verdict, level = "level", level + 1
        else:
            verdict = f"behind by {ours - medians[best]:.3g}"
        reach = reaches[GOAL_METHOD]
        within_third += reach <= 1 / 3
        none = f"{medians['hp_none']:.4g}" if "hp_none" in medians else "-"
        best_text = f"{best} {medians[best]:.4g}" if best else "-"
        reach_text = f"{reach:.2f}" if math.isfinite(reach) else "not reached"
        print(f"| {problem} | {none} | {ours:.4g} | {best_text} | {verdict} | {reach_text} |")
    print(f"ahead of every Optuna pair on {ahead} of {len(rows)} problems (level on {level}); "
          f"no stopping's final within a third of the budget on {within_third} of {len(rows)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--problems", default="")
    r.add_argument("--methods", default="")
    r.add_argument("--seeds", default="0-9")
    r.add_argument("--budget", type=int, default=15, help="full runs' worth of steps")
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--again", action="store_true", help="run again what records exist for")
    sub.add_parser("summary")
    args = parser.parse_args()
    run(args) if args.command == "run" else summary(args)


if __name__ == "__main__":
    main()
