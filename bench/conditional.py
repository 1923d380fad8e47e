#!/usr/bin/env python3
"""Conditional (tree-structured) search spaces (issue 18): hpsearch beside Optuna TPE, Hyperopt
TPE, SMAC3 and random search, each told the tree in its own way, and hpsearch told the flattened
space (every hyperparameter always, the ones the objective ignores included).

    bash bench/conditional.sh                  # builds the wheel, a venv, runs, prints the tables
    python bench/conditional.py run --seeds 0-9 [--problems ...] [--methods ...] [--jobs 2]
    python bench/conditional.py summary        # the tables from bench/conditional_results/

Problems (each a tree written once, in `TREES`, from which every tool's space is made):

- `cash_digits`: choose the model and its hyperparameters on scikit-learn's bundled digits
  (3-fold cross-validated error, fixed folds and model seeds): an SVM (C, gamma), a random
  forest (trees, depth, feature share), k-NN (neighbours, weighting) or logistic regression (C,
  L1 or L2 penalty).
  Budget 50.
- `network`: a synthetic network-like objective: `num_layers` 1-4 activates the widths
  `units_1`..`units_4` of the layers it has; a learning rate and a dropout for every depth. Known
  optimum 0 at 3 layers of 64, 128, 32 units, learning rate 1e-3, dropout 0.2. Budget 40.
- `jenatton`: the tree-structured function of Jenatton et al. (2017): two binary choices pick
  one of four leaves, each with its own continuous variable, and two shared ones enter two of
  the leaves; optimum 0.1. The leaves' optima are moved inside the box (the original's lie on
  its faces). Budget 30.

Methods: `hp_tree` (hpsearch bopt told the conditions; `hp_tree_middle`, records only: the
same before its GP features marked inactive hyperparameters), `hp_flat` (bopt, no conditions: the
inactive values are drawn and ignored), `hp_random` (hpsearch random on the tree),
`optuna_tpe` (TPESampler multivariate, group=True, define-by-run), `hyperopt_tpe` (nested
`hp.choice`), `smac` (SMAC3's HPO facade with ConfigSpace conditions), `random` (Optuna's
RandomSampler). Records go to bench/conditional_results/<method>.jsonl.
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
RESULTS = os.path.join(ROOT, "bench", "conditional_results")

# A tree: (name, kind, domain, condition). kind: float | int | cat; domain: (low, high, log) or a
# list of choices; condition: None, or (parent, [values]) for a categorical or integer parent.
TREES = {
    "cash_digits": [
        ("model", "cat", ["svm", "forest", "knn", "logistic"], None),
        ("svm_C", "float", (1e-2, 1e3, True), ("model", ["svm"])),
        ("svm_gamma", "float", (1e-5, 1e-1, True), ("model", ["svm"])),
        ("forest_trees", "int", (10, 100, True), ("model", ["forest"])),
        ("forest_depth", "int", (2, 20, False), ("model", ["forest"])),
        ("forest_features", "float", (0.05, 1.0, False), ("model", ["forest"])),
        ("knn_neighbours", "int", (1, 50, True), ("model", ["knn"])),
        ("knn_weights", "cat", ["uniform", "distance"], ("model", ["knn"])),
        ("logistic_C", "float", (1e-4, 1e2, True), ("model", ["logistic"])),
        ("logistic_penalty", "cat", ["l2", "l1"], ("model", ["logistic"])),
    ],
    "network": [
        ("num_layers", "int", (1, 4, False), None),
        ("units_1", "int", (8, 512, True), ("num_layers", [1, 2, 3, 4])),
        ("units_2", "int", (8, 512, True), ("num_layers", [2, 3, 4])),
        ("units_3", "int", (8, 512, True), ("num_layers", [3, 4])),
        ("units_4", "int", (8, 512, True), ("num_layers", [4])),
        ("lr", "float", (1e-5, 1e-1, True), None),
        ("dropout", "float", (0.0, 0.8, False), None),
    ],
    "jenatton": [
        ("x1", "cat", [0, 1], None),
        ("x2", "cat", [0, 1], ("x1", [0])),
        ("x3", "cat", [0, 1], ("x1", [1])),
        ("x4", "float", (0.0, 1.0, False), ("x2", [0])),
        ("x5", "float", (0.0, 1.0, False), ("x2", [1])),
        ("x6", "float", (0.0, 1.0, False), ("x3", [0])),
        ("x7", "float", (0.0, 1.0, False), ("x3", [1])),
        ("r8", "float", (0.0, 1.0, False), ("x1", [0])),
        ("r9", "float", (0.0, 1.0, False), ("x1", [1])),
    ],
}
BUDGETS = {"cash_digits": 50, "network": 40, "jenatton": 30}
F_STAR = {"cash_digits": None, "network": 0.0, "jenatton": 0.1}


def active(tree, params):
    """The names active under `params` (values of the active parents)."""
    on = set()
    for name, _, _, condition in tree:
        if condition is None or (condition[0] in on and params.get(condition[0]) in condition[1]):
            on.add(name)
    return on


# ---------------------------------------------------------------------------------------------
# Objectives


_DIGITS = None


def cash_digits(p):
    global _DIGITS
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    if _DIGITS is None:
        from sklearn.datasets import load_digits
        X, y = load_digits(return_X_y=True)
        _DIGITS = (X / 16.0, y)
    X, y = _DIGITS
    if p["model"] == "svm":
        from sklearn.svm import SVC
        model = SVC(C=p["svm_C"], gamma=p["svm_gamma"])
    elif p["model"] == "forest":
        from sklearn.ensemble import RandomForestClassifier
        model = RandomForestClassifier(n_estimators=int(p["forest_trees"]),
                                       max_depth=int(p["forest_depth"]),
                                       max_features=p["forest_features"], random_state=0,
                                       n_jobs=1)
    elif p["model"] == "knn":
        from sklearn.neighbors import KNeighborsClassifier
        model = KNeighborsClassifier(n_neighbors=int(p["knn_neighbours"]),
                                     weights=p["knn_weights"])
    else:
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        model = OneVsRestClassifier(LogisticRegression(C=p["logistic_C"],
                                                       penalty=p["logistic_penalty"],
                                                       solver="liblinear", max_iter=300))
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return 1.0 - cross_val_score(model, X, y, cv=folds).mean()


def network(p):
    n = int(p["num_layers"])
    targets = [64, 128, 32, 256]
    loss = 0.3 * (n - 3) ** 2 + (math.log10(p["lr"]) + 3) ** 2 + 2 * (p["dropout"] - 0.2) ** 2
    for i in range(1, n + 1):
        loss += 0.2 * (math.log2(p[f"units_{i}"]) - math.log2(targets[i - 1])) ** 2
    return loss


def jenatton(p):
    # Jenatton et al.'s leaves, each optimum moved inside the box (the original's lie on its
    # faces, where a tool that tries the corners first would find them by construction).
    if p["x1"] == 0:
        if p["x2"] == 0:
            return (p["x4"] - 0.31) ** 2 + 0.1 + (p["r8"] - 0.57) ** 2
        return (p["x5"] - 0.64) ** 2 + 0.2 + (p["r8"] - 0.57) ** 2
    if p["x3"] == 0:
        return (p["x6"] - 0.42) ** 2 + 0.3 + (p["r9"] - 0.26) ** 2
    return (p["x7"] - 0.73) ** 2 + 0.4 + (p["r9"] - 0.26) ** 2


OBJECTIVES = {"cash_digits": cash_digits, "network": network, "jenatton": jenatton}


# ---------------------------------------------------------------------------------------------
# Methods


def hpsearch_space(tree, conditions=True):
    model = {}
    for name, kind, domain, condition in tree:
        if kind == "cat":
            spec = {"type": "categorical", "domain": domain}
        else:
            low, high, log = domain
            spec = {"type": "continuous" if kind == "float" else "integer",
                    "domain": [low, high], "transformation": "log" if log else "linear"}
        if conditions and condition is not None:
            spec["condition"] = {condition[0]: condition[1]}
        model[name] = spec
    return model


def run_hpsearch(problem, budget, seed, search_type, conditions):
    import hpsearch

    tree = TREES[problem]
    config = {"search_type": search_type, "y_transformation": "none", "max_suggestions": budget}
    optimizer = hpsearch.Optimizer(hpsearch_space(tree, conditions), config, seed=seed)
    values, solver = [], 0.0
    for _ in range(budget):
        started = time.perf_counter()
        trial = optimizer.ask()
        solver += time.perf_counter() - started
        params = dict(trial.params)
        # Told the flat space, the tool draws every value; the objective reads the active ones.
        params = {k: v for k, v in params.items() if k in active(tree, params)}
        value = OBJECTIVES[problem](params)
        started = time.perf_counter()
        optimizer.tell(trial, value)
        solver += time.perf_counter() - started
        values.append(value)
    return values, solver


def optuna_params(trial, tree):
    params = {}
    for name, kind, domain, condition in tree:
        if condition is not None and (condition[0] not in params
                                      or params[condition[0]] not in condition[1]):
            continue
        if kind == "cat":
            params[name] = trial.suggest_categorical(name, domain)
        elif kind == "int":
            params[name] = trial.suggest_int(name, domain[0], domain[1], log=domain[2])
        else:
            params[name] = trial.suggest_float(name, domain[0], domain[1], log=domain[2])
    return params


def run_optuna(problem, budget, seed, sampler_name):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampler = (optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
                   if sampler_name == "tpe" else optuna.samplers.RandomSampler(seed=seed))
    study = optuna.create_study(sampler=sampler)
    tree = TREES[problem]
    values, solver = [], 0.0
    for _ in range(budget):
        started = time.perf_counter()
        trial = study.ask()
        params = optuna_params(trial, tree)
        solver += time.perf_counter() - started
        value = OBJECTIVES[problem](params)
        started = time.perf_counter()
        study.tell(trial, value)
        solver += time.perf_counter() - started
        values.append(value)
    return values, solver


def hyperopt_space(tree, parent=None, parent_value=None, path=""):
    """The hyperopt expression of the part of the tree under (parent, its value). Labels carry
    the branch (`units_1|num_layers=2`): hyperopt wants each label once in the whole space."""
    from hyperopt import hp

    out = {}
    for name, kind, domain, condition in tree:
        if parent is None and condition is not None:
            continue
        if parent is not None and (condition is None or condition[0] != parent
                                   or parent_value not in condition[1]):
            continue
        label = name + path
        has_children = any(c is not None and c[0] == name for _, _, _, c in tree)
        if has_children:
            choices = domain if kind == "cat" else list(range(domain[0], domain[1] + 1))
            out[f"_{name}"] = hp.choice(label, [
                {name: v, **hyperopt_space(tree, name, v, f"{path}|{name}={v}")}
                for v in choices])
        elif kind == "cat":
            out[name] = hp.choice(label, domain)
        elif kind == "int":
            low, high, log = domain
            out[name] = (hp.qloguniform(label, math.log(low - 0.49), math.log(high + 0.49), 1)
                         if log else hp.quniform(label, low - 0.49, high + 0.49, 1))
        else:
            low, high, log = domain
            out[name] = (hp.loguniform(label, math.log(low), math.log(high)) if log
                         else hp.uniform(label, low, high))
    return out


def flatten(nested):
    flat = {}
    for key, value in nested.items():
        if key.startswith("_") and isinstance(value, dict):
            flat.update(flatten(value))
        else:
            flat[key] = value
    return flat


def run_hyperopt(problem, budget, seed):
    import numpy as np
    from hyperopt import STATUS_OK, Trials, fmin, tpe

    tree = TREES[problem]
    values, started = [], time.perf_counter()
    objective_seconds = [0.0]

    def objective(nested):
        params = flatten(nested)
        for name, kind, _, _ in tree:
            if kind == "int" and name in params:
                params[name] = int(round(params[name]))
        begun = time.perf_counter()
        value = OBJECTIVES[problem](params)
        objective_seconds[0] += time.perf_counter() - begun
        values.append(value)
        return {"loss": value, "status": STATUS_OK}

    fmin(objective, hyperopt_space(tree), algo=tpe.suggest, max_evals=budget, trials=Trials(),
         rstate=np.random.default_rng(seed), show_progressbar=False)
    return values, time.perf_counter() - started - objective_seconds[0]


def run_smac(problem, budget, seed):
    from ConfigSpace import (AndConjunction, Categorical, ConfigurationSpace, Float, InCondition,
                             Integer)
    from smac import HyperparameterOptimizationFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue

    tree = TREES[problem]
    space = ConfigurationSpace(seed=seed)
    made = {}
    for name, kind, domain, _ in tree:
        if kind == "cat":
            made[name] = Categorical(name, domain)
        elif kind == "int":
            made[name] = Integer(name, (domain[0], domain[1]), log=domain[2])
        else:
            made[name] = Float(name, (domain[0], domain[1]), log=domain[2])
    space.add(list(made.values()))
    for name, _, _, condition in tree:
        if condition is not None:
            space.add(InCondition(made[name], made[condition[0]], condition[1]))
    _ = AndConjunction
    scenario = Scenario(space, deterministic=True, n_trials=budget, seed=seed,
                        output_directory=f"/tmp/smac3-{problem}-{seed}-{os.getpid()}")
    smac = HyperparameterOptimizationFacade(scenario, lambda config, seed=0: 0.0,
                                            overwrite=True, logging_level=40)
    values, solver = [], 0.0
    for _ in range(budget):
        started = time.perf_counter()
        info = smac.ask()
        solver += time.perf_counter() - started
        params = dict(info.config)
        value = OBJECTIVES[problem](params)
        started = time.perf_counter()
        smac.tell(info, TrialValue(cost=value))
        solver += time.perf_counter() - started
        values.append(value)
    return values, solver


METHODS = {
    "hp_tree": lambda p, b, s: run_hpsearch(p, b, s, "bopt", True),
    "hp_flat": lambda p, b, s: run_hpsearch(p, b, s, "bopt", False),
    "hp_random": lambda p, b, s: run_hpsearch(p, b, s, "random", True),
    "optuna_tpe": lambda p, b, s: run_optuna(p, b, s, "tpe"),
    "hyperopt_tpe": run_hyperopt,
    "smac": run_smac,
    "random": lambda p, b, s: run_optuna(p, b, s, "random"),
}


# Methods with records only, from earlier builds: `hp_tree_middle` is bopt on the tree before
# its GP features marked inactive hyperparameters (an inactive categorical one-hot at its middle
# category, an inactive number at 0.5 without an activity feature; commit b50eb72 and before).
FORMER = ["hp_tree_middle"]


def one(task):
    problem, method, seed = task
    records.pin_threads()
    started = time.perf_counter()
    try:
        values, solver = METHODS[method](problem, BUDGETS[problem], seed)
        error = None
    except ImportError as e:
        values, solver, error = [], 0.0, f"not installed: {e}"
    best = [min(values[: i + 1]) for i in range(len(values))]
    return {"problem": problem, "method": method, "seed": seed, "budget": BUDGETS[problem],
            "f_star": F_STAR[problem], "best": best[-1] if best else None, "trace": best,
            "solver_seconds": round(solver, 3), "error": error,
            "wall_seconds": round(time.perf_counter() - started, 3)}


def run(args):
    problems = args.problems.split(",") if args.problems else list(TREES)
    methods = args.methods.split(",") if args.methods else list(METHODS)
    for name in problems + methods:
        if name not in TREES and name not in METHODS:
            sys.exit(f"unknown problem or method {name!r}; known: {', '.join([*TREES, *METHODS])}")
    done = records.kept(RESULTS, methods)
    tasks = [(p, m, s) for p in problems for m in methods for s in records.seeds(args.seeds)
             if (p, m, s) not in done]
    print(f"{len(tasks)} runs ({len(done)} kept from earlier)", flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for record in pool.map(one, tasks):
            if record["error"]:
                print(f"{record['method']}: {record['error']}; skipped", flush=True)
                continue
            records.append(RESULTS, record)
            print(f"{record['problem']:12} {record['method']:13} seed {record['seed']:2}: "
                  f"best {record['best']:.5g}, solver {record['solver_seconds']} s", flush=True)
    summary()


def summary(_args=None):
    kept = records.load(RESULTS)
    if not kept:
        sys.exit(f"no records in {RESULTS}")
    by = {}
    for r in kept:
        by.setdefault(r["problem"], {}).setdefault(r["method"], {})[r["seed"]] = r
    methods = [m for m in [*METHODS, *FORMER] if any(m in per for per in by.values())]
    overall = {m: [] for m in methods}
    for problem in [p for p in TREES if p in by]:
        per = by[problem]
        present = [m for m in methods if m in per]
        common = sorted(set.intersection(*(set(per[m]) for m in present)))
        f_star = F_STAR[problem]

        def score(r):
            if f_star is None:
                return r["best"]
            return math.log10(max(r["best"] - f_star, 1e-12))

        what = "log10 regret" if f_star is not None else "3-fold CV error"
        print(f"\n{problem}: best {what} after {BUDGETS[problem]} evaluations, median [IQR] over "
              f"seeds {common[0]}-{common[-1]} ({len(common)})")
        print("| method | median [IQR] | mean rank | solver s per run |")
        print("|---|---|---|---|")
        ranks = records.mean_ranks(per, present, common, score)
        for m in present:
            low, mid, high = records.quartiles([score(per[m][s]) for s in common])
            overall[m].append(ranks[m])
            solver = statistics.median(per[m][s]["solver_seconds"] for s in common)
            print(f"| {m} | {mid:.4g} [{low:.4g}, {high:.4g}] | {ranks[m]:.2f} | {solver:.2f} |")
    print("\nmean rank over the problems:")
    for m in sorted(methods, key=lambda m: statistics.mean(overall[m]) if overall[m] else 99):
        if overall[m]:
            print(f"  {m:13} {statistics.mean(overall[m]):.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--problems", default="")
    r.add_argument("--methods", default="")
    r.add_argument("--seeds", default="0-9")
    r.add_argument("--jobs", type=int, default=2)
    sub.add_parser("summary")
    args = parser.parse_args()
    run(args) if args.command == "run" else summary(args)


if __name__ == "__main__":
    main()
