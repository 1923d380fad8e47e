"""What the in-process benchmark drivers (bench/learning_curves.py, bench/conditional.py) share:
seed ranges, pinned BLAS threads, the records kept per method as JSON lines, quartiles, and the
anchor harness's space written as an hpsearch model config."""

import json
import os
import statistics


def seeds(text):
    """`0-9` or `0,3,5-7` as a list of seeds."""
    out = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        out.extend(range(int(low), int(high or low) + 1))
    return out


def pin_threads():
    """One BLAS thread per worker: the workers already fill the cores."""
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(key, "1")


def kept(results, methods):
    """The (problem, method, seed) runs the records of `methods` already hold."""
    done = set()
    for method in methods:
        path = os.path.join(results, f"{method}.jsonl")
        if os.path.exists(path):
            with open(path) as f:
                done.update((r["problem"], r["method"], r["seed"]) for r in map(json.loads, f))
    return done


def append(results, record):
    os.makedirs(results, exist_ok=True)
    with open(os.path.join(results, f"{record['method']}.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\n")


def load(results):
    """Every record of every method."""
    records = []
    if os.path.isdir(results):
        for name in sorted(os.listdir(results)):
            if name.endswith(".jsonl"):
                with open(os.path.join(results, name)) as f:
                    records.extend(map(json.loads, f))
    return records


def quartiles(values):
    """(first quartile, median, third quartile)."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], statistics.median(values), q[2]


def hpsearch_model(space):
    """The anchor harness's space (name, type float|int|categorical, low, high, log, choices) as
    a model_config.json."""
    model = {}
    for p in space:
        scale = "log" if p.get("log") else "linear"
        if p["type"] == "float":
            model[p["name"]] = {"type": "continuous", "domain": [p["low"], p["high"]],
                                "transformation": scale}
        elif p["type"] == "int":
            model[p["name"]] = {"type": "integer", "domain": [p["low"], p["high"]],
                                "transformation": scale}
        else:
            model[p["name"]] = {"type": "categorical", "domain": p["choices"]}
    return model


def mean_ranks(per, methods, common, score):
    """Each method's mean rank over the seeds `common` (1 the best; ties share their ranks),
    `per[method][seed]` a record and `score(record)` lower is better."""
    ranks = {m: [] for m in methods}
    for seed in common:
        scores = sorted(score(per[m][seed]) for m in methods)
        for m in methods:
            v = score(per[m][seed])
            ranks[m].append(scores.index(v) + 1 + (scores.count(v) - 1) / 2)
    return {m: statistics.mean(r) for m, r in ranks.items()}
