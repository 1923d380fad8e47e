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
  defaults; asha/hyperband with min_step 1, max_step the problem's, reduction_factor 3), pruned
  runs given to the model at their last value as if whole (a search's choice until 2026-12-03).
- `hp_asha_left_out`, `hp_asha_worst`: bopt + asha, with pruned runs left out of the model, or
  imputed as worse than every success, instead of at their last value (issue 17's "bopt must
  not be misled by pruned runs").
- `hp_median_at_step`, `hp_asha_at_step`, `hp_hyperband_at_step`: the same rules, with the
  model told where on its curve each pruned run's last value was taken (the share of max_step
  it reached, one more GP feature; candidates scored at a whole run's end): a model of the
  learning curve, the issue's third treatment; a search's choice since 2026-12-03.
- `hp_asha_checked`, `hp_hyperband_checked`: the `_at_step` methods with `order_check` (a rung
  judges only once the runs' order there has held at a later step).
- `hp_asha_highest_rung`, `hp_hyperband_highest_rung`: bopt fitted as BOHB fits its model, on
  each run's objective at the highest rung (or max_step) that dims + 1 runs reached, runs stopped
  below it left out (issue 17's fourth treatment).
- `hp_random_asha`: hpsearch random search with asha.
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
import warnings
from concurrent.futures import ProcessPoolExecutor

import records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "learning_curve_results")


# ---------------------------------------------------------------------------------------------
# Problems


class Problem:
    name = ""
    max_step = 27
    space = []  # anchor-harness style: name, type float|int|categorical, low, high, log, choices
    f_star = None  # the known optimum at max_step, when there is one

    def curve(self, params):
        """Yields the objective after each step 1..max_step."""
        raise NotImplementedError


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X_train, X_valid, y_train, y_valid = train_test_split(X, y, test_size=0.3, random_state=0,
                                                          stratify=y)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_valid), y_train, y_valid


def _finite(value, cap):
    """A diverged model's loss (nan, inf) reported as the cap, as a script would clip it."""
    return value if math.isfinite(value) and value < cap else cap


class MlpDigits(Problem):
    name = "mlp_digits"
    max_step = 27
    space = [
        {"name": "learning_rate_init", "type": "float", "low": 1e-4, "high": 0.3, "log": True},
        {"name": "alpha", "type": "float", "low": 1e-6, "high": 1.0, "log": True},
        {"name": "hidden", "type": "int", "low": 4, "high": 64, "log": True},
        {"name": "batch_size", "type": "int", "low": 16, "high": 512, "log": True},
    ]

    def __init__(self):
        self.data = _digits()

    def curve(self, params):
        import numpy as np
        from sklearn.metrics import log_loss
        from sklearn.neural_network import MLPClassifier

        X_train, X_valid, y_train, y_valid = self.data
        classes = np.unique(y_train)
        model = MLPClassifier(hidden_layer_sizes=(int(params["hidden"]),),
                              learning_rate_init=params["learning_rate_init"],
                              alpha=params["alpha"], batch_size=int(params["batch_size"]),
                              random_state=0)
        for _ in range(self.max_step):
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                model.partial_fit(X_train, y_train, classes=classes)
                try:
                    value = log_loss(y_valid, model.predict_proba(X_valid), labels=classes)
                except ValueError:
                    value = math.inf
            yield _finite(value, 5.0)


class SgdDigits(Problem):
    name = "sgd_digits"
    max_step = 27
    space = [
        {"name": "alpha", "type": "float", "low": 1e-7, "high": 1e-1, "log": True},
        {"name": "eta0", "type": "float", "low": 1e-5, "high": 1.0, "log": True},
        {"name": "schedule", "type": "categorical",
         "choices": ["constant", "invscaling", "adaptive"]},
        {"name": "loss", "type": "categorical", "choices": ["hinge", "log_loss", "modified_huber"]},
    ]

    def __init__(self):
        self.data = _digits()

    def curve(self, params):
        import numpy as np
        from sklearn.linear_model import SGDClassifier

        X_train, X_valid, y_train, y_valid = self.data
        classes = np.unique(y_train)
        model = SGDClassifier(alpha=params["alpha"], eta0=params["eta0"],
                              learning_rate=params["schedule"], loss=params["loss"],
                              random_state=0)
        for _ in range(self.max_step):
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                model.partial_fit(X_train, y_train, classes=classes)
                value = 1.0 - model.score(X_valid, y_valid)
            yield _finite(value, 1.0)


class GbmBreastCancer(Problem):
    name = "gbm_breast_cancer"
    max_step = 81
    space = [
        {"name": "learning_rate", "type": "float", "low": 1e-3, "high": 1.0, "log": True},
        {"name": "max_depth", "type": "int", "low": 1, "high": 6, "log": False},
        {"name": "subsample", "type": "float", "low": 0.2, "high": 1.0, "log": False},
        {"name": "min_samples_leaf", "type": "int", "low": 1, "high": 64, "log": True},
    ]

    def __init__(self):
        from sklearn.datasets import load_breast_cancer
        from sklearn.model_selection import train_test_split

        X, y = load_breast_cancer(return_X_y=True)
        self.data = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)

    def curve(self, params):
        from sklearn.ensemble import GradientBoostingClassifier
        from sklearn.metrics import log_loss

        X_train, X_valid, y_train, y_valid = self.data
        model = GradientBoostingClassifier(
            n_estimators=1, learning_rate=params["learning_rate"],
            max_depth=int(params["max_depth"]), subsample=params["subsample"],
            min_samples_leaf=int(params["min_samples_leaf"]), random_state=0, warm_start=True)
        # warm_start adds one round per fit: a pruned run costs only the rounds it took.
        for rounds in range(1, self.max_step + 1):
            model.set_params(n_estimators=rounds)
            model.fit(X_train, y_train)
            yield _finite(log_loss(y_valid, model.predict_proba(X_valid), labels=[0, 1]), 5.0)


class Crossing(Problem):
    """loss(x, t) = q(x) + exp(-r(x0) t); r(x0) = 0.01 · 100^x0 (x0 = 1 learns 100 times faster
    than x0 = 0); q(x) = 2 (x0 - 0.25)^2 + sum_i (x_i - c_i)^2. At t = 81 the best x0 trades
    the slow start against q: about 0.37."""

    name = "crossing_d4"
    max_step = 81
    CENTRE = (None, 0.7, 0.2, 0.55)

    def __init__(self):
        self.space = [{"name": f"x{i}", "type": "float", "low": 0.0, "high": 1.0, "log": False}
                      for i in range(4)]
        grid = (i / 200000 for i in range(200001))
        self.f_star = min(self._at(x0, 0.0, self.max_step) for x0 in grid)

    @staticmethod
    def _at(x0, rest, t):
        return 2 * (x0 - 0.25) ** 2 + rest + math.exp(-0.01 * 100 ** x0 * t)

    def curve(self, params):
        x = [params[f"x{i}"] for i in range(4)]
        rest = sum((x[i] - c) ** 2 for i, c in enumerate(self.CENTRE) if c is not None)
        for t in range(1, self.max_step + 1):
            yield self._at(x[0], rest, t)


class Ordered(Problem):
    """loss(x, t) = q(x) + (0.2 + q(x)) exp(-0.05 t), q(x) = sum_i (x_i - c_i)^2: every run learns
    at the same pace, so the runs' order is the same at every step (asha's ideal, and the cost of
    `order_check` where no check is needed). Known optimum 0.2 exp(-0.05 · 81) at q = 0."""

    name = "ordered_d4"
    max_step = 81
    CENTRE = (0.3, 0.7, 0.2, 0.55)

    def __init__(self):
        self.space = [{"name": f"x{i}", "type": "float", "low": 0.0, "high": 1.0, "log": False}
                      for i in range(4)]
        self.f_star = 0.2 * math.exp(-0.05 * self.max_step)

    def curve(self, params):
        q = sum((params[f"x{i}"] - c) ** 2 for i, c in enumerate(self.CENTRE))
        for t in range(1, self.max_step + 1):
            yield q + (0.2 + q) * math.exp(-0.05 * t)


PROBLEMS = {p.name: p for p in (MlpDigits, SgdDigits, GbmBreastCancer, Crossing, Ordered)}


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
                 order_check=False):
    import hpsearch

    config = {"search_type": search_type, "y_transformation": "none", "max_suggestions": 100000}
    if rule == "median":
        config["early_stopping"] = {"rule": "median"}
    elif rule in ("asha", "hyperband"):
        config["early_stopping"] = {"rule": rule, "min_step": 1, "max_step": problem.max_step,
                                    "reduction_factor": 3}
        if order_check:
            config["early_stopping"]["order_check"] = True
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
            print(f"| {m} | {mid:.4g} [{low:.4g}, {high:.4g}] | {ranks[m]:.2f} "
                  f"| {runs:g} ({pruned:g}) | {reach_text} ({reached}/{len(common)} seeds) "
                  f"| {solver:.2f} |")
    print("\nmean rank over the problems (each problem's mean rank over seeds):")
    for m in sorted(methods, key=lambda m: statistics.mean(ranks_all[m]) if ranks_all[m] else 99):
        if ranks_all[m]:
            print(f"  {m:22} {statistics.mean(ranks_all[m]):.2f}")


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
