#!/usr/bin/env python3
"""hpsearch's optimiser in process (the Python package's ``hpsearch.Optimizer``) in the anchor
harness of ../shared/bench/anchors, beside Optuna's in-process samplers: no pipe and no process
start in the suggestion time, so it compares like for like with theirs.

    python bench/python_inprocess.py --problems branin,mixed_hpo --seeds 0-4 \\
        --solvers "hpsearch_py,optuna_tpe,ext:target/release/hpsearch ask-tell" [--results DIR]

Each (solver, problem, seed) runs in its own process through the harness's ``run_one`` (its
problems, its timing: solver time = time in ask + tell), and appends the harness's record to
``DIR/<solver>.jsonl`` (default target/anchors-inprocess/), which the harness's summarize.py
reads; a short table is printed at the end. Run it with a Python that has the hpsearch wheel
and numpy (and optuna for the Optuna solvers). ``HPSEARCH_SOLVER_CONFIG`` adds search_config
fields, as for ``hpsearch ask-tell``; the default is bopt with ``y_transformation`` none (the
harness's values are losses, some negative), as ask-tell's.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANCHORS = os.environ.get("ANCHORS", os.path.join(ROOT, "..", "shared", "bench", "anchors"))
NAME = "hpsearch_py"


def harness():
    """The harness's modules, with our adapter registered beside its solvers."""
    sys.path.insert(0, os.path.abspath(ANCHORS))
    import run
    import solvers

    class HpsearchInProcess(solvers.Solver):
        name = NAME

        def __init__(self, space, seed, budget):
            super().__init__(space, seed, budget)
            import hpsearch

            from records import hpsearch_model

            model = hpsearch_model(space)
            config = {"search_type": "bopt", "y_transformation": "none",
                      "max_suggestions": max(budget, 1)}
            config.update(json.loads(os.environ.get("HPSEARCH_SOLVER_CONFIG", "{}")))
            self.optimizer = hpsearch.Optimizer(model, config, seed=seed)
            self.pending = None

        def ask(self):
            self.pending = self.optimizer.ask()
            return dict(self.pending.params)

        def tell(self, params, value):
            self.optimizer.tell(self.pending, float(value))

        @staticmethod
        def versions():
            import hpsearch

            return {"hpsearch": hpsearch.__version__}

    solvers.REGISTRY[NAME] = HpsearchInProcess
    solvers.SETTINGS[NAME] = ("hpsearch.Optimizer in process (bopt defaults, y_transformation none"
                              " as ask-tell); HPSEARCH_SOLVER_CONFIG="
                              + os.environ.get("HPSEARCH_SOLVER_CONFIG", "{}"))
    return run


def tag(solver):
    """A file name for a solver (an external one is named by its command line)."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", solver).strip("_")[:60]


def one(args):
    for key, value in {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                       "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}.items():
        os.environ.setdefault(key, value)
    run = harness()
    record = run.run_one(args.solver, args.problem, args.seed, None)
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, f"{tag(args.solver)}.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", default="branin,mixed_hpo")
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--solvers", default=f"{NAME},optuna_tpe")
    parser.add_argument("--results", default=os.path.join(ROOT, "target", "anchors-inprocess"))
    parser.add_argument("--one", nargs=3, metavar=("SOLVER", "PROBLEM", "SEED"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        args.solver, args.problem, seed = args.one
        args.seed = int(seed)
        return one(args)
    run = harness()
    seeds = run.parse_seeds(args.seeds)
    for seed in seeds:
        for solver in args.solvers.split(","):
            for problem in args.problems.split(","):
                started = time.time()
                subprocess.run([sys.executable, __file__, "--results", args.results,
                                "--one", solver, problem, str(seed)], check=True,
                               stdout=subprocess.DEVNULL)
                print(f"{solver} {problem} seed {seed}: {time.time() - started:.1f} s",
                      flush=True)
    summary(args.results, args.solvers.split(","), args.problems.split(","), seeds)


def summary(results, solvers, problems, seeds):
    import math

    print("| solver | problem | runs | median final log10 regret | s/sugg wall | s/sugg cpu |")
    print("|---|---|---|---|---|---|")
    for solver in solvers:
        path = os.path.join(results, f"{tag(solver)}.jsonl")
        records = [json.loads(line) for line in open(path)] if os.path.exists(path) else []
        for problem in problems:
            mine = [r for r in records if r["problem"] == problem and r["seed"] in seeds
                    and r.get("status") == "ok"]
            if not mine:
                continue
            regret = [math.log10(max(r["best"][-1] - r["f_star"], 1e-12)) for r in mine]
            wall = [t for r in mine for t in r["solver_s"]]
            cpu = [t for r in mine for t in r["solver_cpu_s"]]
            print(f"| {solver.replace('|', '/')} | {problem} | {len(mine)} | {statistics.median(regret):.2f} | "
                  f"{statistics.mean(wall):.4f} | {statistics.mean(cpu):.4f} |")


if __name__ == "__main__":
    main()
