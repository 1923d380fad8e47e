"""The broad benchmark: many function families, dimensions and real models, on which the
optimiser's defaults are decided (issue 16), not on the six problems of the anchor suite.

Loaded by the anchor harness through HPS_EXTRA_PROBLEMS=bench/broad_problems.py (`bash
bench/anchors.sh --broad`, which picks the problems to run). Two kinds of problem:

- `bbob_f{NN}_d{D}_i{I}`: the 24 noiseless functions of COCO's BBOB suite (the `cocoex` module
  of PyPI's coco-experiment) in D = 2, 5, 10, 20 dimensions, instances I = 1, 2, 3. Every BBOB
  instance is shifted and rotated, with its optimum f* (`best_value`) drawn away from 0, so no
  solver gains from an optimum at the centre of the box or from a loss that ends at zero. Search
  space [-5, 5]^D, as COCO's. Budget 20·D evaluations up to D = 5 and 10·D from D = 10.
- `skl_{model}_{data}`: a scikit-learn model on a dataset that ships with scikit-learn, tuned
  over a space of the kind Bayesmark uses (log scales, integers, categoricals); the loss is the
  3-fold cross-validated error (1 - accuracy, or the mean squared error of the standardised
  target), with a fixed split and model seed, so the same settings give the same loss. The
  true minimum is unknown: f* is 0, so the "log10 regret" of these problems is the log10 of the
  error itself, and ranks by it are ranks by the error. Budget 50 evaluations.

`python3 bench/broad_problems.py` checks every BBOB problem against its known optimum and times
one evaluation of each model problem (it needs cocoex and scikit-learn).
"""
import math

from problems import Problem

DIMENSIONS = (2, 5, 10, 20)
INSTANCES = (1, 2, 3)

# The five groups of BBOB functions COCO reports on, for the per-family breakdown.
BBOB_GROUPS = {
    "separable": range(1, 6),
    "low/moderate conditioning": range(6, 10),
    "high conditioning, unimodal": range(10, 15),
    "multimodal, adequate structure": range(15, 20),
    "multimodal, weak structure": range(20, 25),
}


def bbob_budget(dim):
    return 20 * dim if dim <= 5 else 10 * dim


class Bbob(Problem):
    """One instance of a BBOB function; the cocoex problem is made on first use, so that listing
    the suite costs nothing."""

    def __init__(self, function, dim, instance):
        self.function, self.instance = function, instance
        self.name = f"bbob_f{function:02d}_d{dim}_i{instance}"
        self.space = [{"name": f"x{i}", "type": "float", "low": -5.0, "high": 5.0, "log": False}
                      for i in range(dim)]
        self.budget = bbob_budget(dim)
        self._problem = None
        self._optimum = None

    @property
    def family(self):
        return next(g for g, fs in BBOB_GROUPS.items() if self.function in fs)

    def _bare(self):
        if self._problem is None:
            from cocoex import BareProblem
            self._problem = BareProblem("bbob", self.function, len(self.space), self.instance)
        return self._problem

    def _known_optimum(self):
        # A separate copy: asking a cocoex problem for its optimum marks it as 'tainted'.
        if self._optimum is None:
            from cocoex import BareProblem
            known = BareProblem("bbob", self.function, len(self.space), self.instance)
            x = [float(v) for v in known.best_parameter()]
            self._optimum = (float(known.best_value()), {f"x{i}": v for i, v in enumerate(x)})
        return self._optimum

    @property
    def f_star(self):
        return self._known_optimum()[0]

    @property
    def x_star(self):
        return self._known_optimum()[1]

    def __call__(self, p):
        import numpy as np
        x = np.array([float(p[f"x{i}"]) for i in range(len(self.space))])
        return float(self._bare()(x))


def _float(name, low, high, log=False):
    return {"name": name, "type": "float", "low": float(low), "high": float(high), "log": log}


def _int(name, low, high, log=False):
    return {"name": name, "type": "int", "low": int(low), "high": int(high), "log": log}


def _cat(name, choices):
    return {"name": name, "type": "categorical", "choices": list(choices)}


# Each model: its spaces and how a point becomes an estimator, for classification ("clf") and
# regression ("reg").
def _svm(task, p):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, SVR
    kind = SVC if task == "clf" else SVR
    extra = {} if task == "clf" else {"epsilon": p["epsilon"]}
    return make_pipeline(StandardScaler(), kind(C=p["C"], gamma=p["gamma"], tol=p["tol"], **extra))


def _forest(task, p):
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    kind = RandomForestClassifier if task == "clf" else RandomForestRegressor
    return kind(n_estimators=p["n_estimators"], max_depth=p["max_depth"],
                max_features=p["max_features"], min_samples_split=p["min_samples_split"],
                min_samples_leaf=p["min_samples_leaf"], random_state=0, n_jobs=1)


def _boosting(task, p):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    kind = HistGradientBoostingClassifier if task == "clf" else HistGradientBoostingRegressor
    return kind(learning_rate=p["learning_rate"], max_iter=p["max_iter"],
                max_leaf_nodes=p["max_leaf_nodes"], min_samples_leaf=p["min_samples_leaf"],
                l2_regularization=p["l2_regularization"], random_state=0)


def _mlp(task, p):
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    kind = MLPClassifier if task == "clf" else MLPRegressor
    return make_pipeline(StandardScaler(), kind(
        hidden_layer_sizes=(p["units"],) * p["layers"], alpha=p["alpha"],
        learning_rate_init=p["learning_rate_init"], activation=p["activation"],
        solver=p["solver"], max_iter=120, random_state=0))


def _linear(task, p):
    from sklearn.linear_model import ElasticNet, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    if task == "clf":
        # saga visits the samples in a random order: its seed fixed, like every other model's,
        # so the same settings give the same error (the deterministic set's contract).
        model = LogisticRegression(C=p["C"], l1_ratio=p["l1_ratio"], solver="saga",
                                   max_iter=300, tol=p["tol"], random_state=0)
    else:
        model = ElasticNet(alpha=p["alpha"], l1_ratio=p["l1_ratio"], tol=p["tol"], max_iter=3000)
    return make_pipeline(StandardScaler(), model)


def _knn(task, p):
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    kind = KNeighborsClassifier if task == "clf" else KNeighborsRegressor
    return make_pipeline(StandardScaler(), kind(n_neighbors=p["n_neighbors"], p=p["p"],
                                                weights=p["weights"]))


def _tree(task, p):
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    kind = DecisionTreeClassifier if task == "clf" else DecisionTreeRegressor
    return kind(max_depth=p["max_depth"], min_samples_split=p["min_samples_split"],
                min_samples_leaf=p["min_samples_leaf"], max_features=p["max_features"],
                min_impurity_decrease=p["min_impurity_decrease"], random_state=0)


MODELS = {
    "svm": (_svm, {
        "clf": [_float("C", 1e-2, 1e3, True), _float("gamma", 1e-4, 1e1, True),
                _float("tol", 1e-5, 1e-1, True)],
        "reg": [_float("C", 1e-2, 1e3, True), _float("gamma", 1e-4, 1e1, True),
                _float("tol", 1e-5, 1e-1, True), _float("epsilon", 1e-3, 1.0, True)],
    }),
    "forest": (_forest, {t: [_int("n_estimators", 10, 200, True), _int("max_depth", 1, 20),
                             _float("max_features", 0.05, 1.0),
                             _int("min_samples_split", 2, 20),
                             _int("min_samples_leaf", 1, 20)] for t in ("clf", "reg")}),
    "boosting": (_boosting, {t: [_float("learning_rate", 1e-3, 1.0, True),
                                 _int("max_iter", 10, 200, True),
                                 _int("max_leaf_nodes", 2, 64, True),
                                 _int("min_samples_leaf", 1, 50, True),
                                 _float("l2_regularization", 1e-6, 10.0, True)]
                             for t in ("clf", "reg")}),
    "mlp": (_mlp, {t: [_int("layers", 1, 3), _int("units", 8, 128, True),
                       _float("alpha", 1e-6, 1e-1, True),
                       _float("learning_rate_init", 1e-4, 1e-1, True),
                       _cat("activation", ["relu", "tanh", "logistic"]),
                       _cat("solver", ["adam", "sgd", "lbfgs"])] for t in ("clf", "reg")}),
    "linear": (_linear, {
        "clf": [_float("C", 1e-3, 1e3, True), _float("l1_ratio", 0.0, 1.0),
                _float("tol", 1e-5, 1e-1, True)],
        "reg": [_float("alpha", 1e-5, 10.0, True), _float("l1_ratio", 0.0, 1.0),
                _float("tol", 1e-5, 1e-1, True)],
    }),
    "knn": (_knn, {t: [_int("n_neighbors", 1, 40), _int("p", 1, 2),
                       _cat("weights", ["uniform", "distance"])] for t in ("clf", "reg")}),
    "tree": (_tree, {t: [_int("max_depth", 1, 30), _int("min_samples_split", 2, 40),
                         _int("min_samples_leaf", 1, 30), _float("max_features", 0.05, 1.0),
                         _float("min_impurity_decrease", 1e-6, 1e-1, True)]
                     for t in ("clf", "reg")}),
}

DATASETS = {
    "breast": ("clf", "load_breast_cancer"),
    "digits": ("clf", "load_digits"),
    "wine": ("clf", "load_wine"),
    "iris": ("clf", "load_iris"),
    "diabetes": ("reg", "load_diabetes"),
}

# Model on dataset, in the manner of Bayesmark: every model on a classification set, five on the
# regression one (k-NN and the tree as well: both ends of the cost scale), mixed spaces included.
MODEL_PROBLEMS = [
    ("svm", "breast"), ("forest", "wine"), ("boosting", "breast"), ("mlp", "digits"),
    ("linear", "breast"), ("knn", "iris"), ("tree", "breast"), ("mlp", "wine"),
    ("svm", "diabetes"), ("forest", "diabetes"), ("boosting", "diabetes"), ("linear", "diabetes"),
    ("knn", "diabetes"), ("tree", "diabetes"),
]

# Their problem names, as the records and the tables call them.
MODEL_NAMES = [f"skl_{m}_{data}" for m, data in MODEL_PROBLEMS]

class SklearnModel(Problem):
    f_star = 0.0
    x_star: dict = {}
    budget = 50

    def __init__(self, model, data):
        self.model, self.data = model, data
        self.task, self._loader = DATASETS[data]
        self.name = f"skl_{model}_{data}"
        self.family = f"model ({'classification' if self.task == 'clf' else 'regression'})"
        self._build, spaces = MODELS[model]
        self.space = spaces[self.task]
        self._xy = None

    def _dataset(self):
        if self._xy is None:
            import numpy as np
            import sklearn.datasets
            x, y = getattr(sklearn.datasets, self._loader)(return_X_y=True)
            if self.task == "reg":
                y = (y - np.mean(y)) / np.std(y)
            self._xy = (x, y)
        return self._xy

    def __call__(self, p):
        return self.loss(p)

    def loss(self, p, seed=None):
        """The 3-fold cross-validated error of `p`. With `seed` None, on the fixed split
        (random_state 0) with each model's own fixed seed, as this benchmark scores it; with a
        seed, the split and every random_state of the model drawn from it (the noisy copies of
        bench/noisy_problems.py)."""
        import warnings
        import numpy as np
        from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
        x, y = self._dataset()
        split = (StratifiedKFold if self.task == "clf" else KFold)(
            3, shuffle=True, random_state=0 if seed is None else seed)
        estimator = self._build(self.task, p)
        if seed is not None:
            estimator.set_params(**{k: seed for k in estimator.get_params() if k.endswith("random_state")})
        scoring = "accuracy" if self.task == "clf" else "neg_mean_squared_error"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = cross_val_score(estimator, x, y, cv=split, scoring=scoring,
                                     error_score=np.nan)
        score = float(np.mean(scores))
        if not math.isfinite(score):
            return 1.0 if self.task == "clf" else 10.0
        return 1.0 - score if self.task == "clf" else -score


def _all():
    problems = [Bbob(f, d, i) for d in DIMENSIONS for f in range(1, 25) for i in INSTANCES]
    problems += [SklearnModel(m, data) for m, data in MODEL_PROBLEMS]
    return problems


PROBLEMS = {p.name: p for p in _all()}


ANCHORS = ("branin", "hartmann6", "ackley5", "rosenbrock4", "levy10", "mixed_hpo")


def _numbers(text, what):
    """`1-3,5` -> [1, 2, 3, 5]."""
    out = []
    for part in filter(None, (t.strip() for t in text.split(","))):
        low, _, high = part.partition("-")
        try:
            out.extend(range(int(low), int(high or low) + 1))
        except ValueError:
            raise SystemExit(f"broad_problems: {what}={text!r}: use numbers and ranges, e.g. 1-3,5")
    return out


def selected(env=None):
    """The names of the problems a run of the broad benchmark covers, chosen by BROAD_DIMS,
    BROAD_INSTANCES, BROAD_FUNCTIONS (BBOB function numbers), BROAD_MODELS (1, 0 or a list of
    models and model_dataset pairs) and BROAD_ANCHORS (1 or 0), every one optional
    (bench/anchors.sh --broad)."""
    import os
    env = os.environ if env is None else env
    dims = _numbers(env.get("BROAD_DIMS", "2,5,10,20"), "BROAD_DIMS")
    instances = _numbers(env.get("BROAD_INSTANCES", "1-3"), "BROAD_INSTANCES")
    functions = _numbers(env.get("BROAD_FUNCTIONS", "1-24"), "BROAD_FUNCTIONS")
    names = [f"bbob_f{f:02d}_d{d}_i{i}" for d in dims for f in functions for i in instances]
    unknown = [n for n in names if n not in PROBLEMS]
    if unknown:
        raise SystemExit(f"broad_problems: no problem {unknown[0]} (dimensions {DIMENSIONS}, "
                         f"instances {INSTANCES}, functions 1-24)")
    models = env.get("BROAD_MODELS", "1").strip()
    if models == "1":
        names += MODEL_NAMES
    elif models != "0":
        # A list: models (`svm`) or model_dataset pairs (`mlp_wine`); the MLPs and the boosting
        # take seconds per evaluation, the rest well under one.
        wanted = {w.strip() for w in models.split(",") if w.strip()}
        known = {m for m, _ in MODEL_PROBLEMS} | {f"{m}_{d}" for m, d in MODEL_PROBLEMS}
        if not wanted <= known:
            raise SystemExit(f"broad_problems: BROAD_MODELS={models!r}: {sorted(wanted - known)[0]} "
                             f"is none of 0, 1, the models or model_dataset pairs "
                             f"({', '.join(sorted(known))})")
        names += [f"skl_{m}_{d}" for m, d in MODEL_PROBLEMS
                  if m in wanted or f"{m}_{d}" in wanted]
    if env.get("BROAD_ANCHORS", "1") != "0":
        names += list(ANCHORS)
    return names


def family(name):
    """The family a problem's results are grouped under in the broad table (a noisy copy of the
    noisy broad set, bench/noisy_problems.py, under its noise model)."""
    problem = PROBLEMS.get(name)
    base, _, noise = name.rpartition("_")
    if problem is None and base.startswith("bbob_") and noise in ("gn", "add"):
        return f"noise {noise}"
    if problem is None and noise == "cv" and base in PROBLEMS:
        return f"noisy CV, {PROBLEMS[base].family}"
    return getattr(problem, "family", "anchor suite")


if __name__ == "__main__":
    import time
    bad = 0
    for p in PROBLEMS.values():
        if isinstance(p, Bbob):
            v = p(p.x_star)
            ok = abs(v - p.f_star) < 1e-8 * max(1.0, abs(p.f_star))
            bad += not ok
            if not ok or p.instance == 1 and len(p.space) == 2:
                print(f"{p.name:20s} f(x*)={v:.10g} f*={p.f_star:.10g} {'OK' if ok else 'MISMATCH'}")
        else:
            mid = {}
            for h in p.space:
                if h["type"] == "categorical":
                    mid[h["name"]] = h["choices"][0]
                elif h["log"]:
                    v = math.sqrt(h["low"] * h["high"])
                    mid[h["name"]] = round(v) if h["type"] == "int" else v
                else:
                    v = (h["low"] + h["high"]) / 2
                    mid[h["name"]] = round(v) if h["type"] == "int" else v
            start = time.perf_counter()
            loss = p(mid)
            print(f"{p.name:20s} dim={p.dim} loss at the middle {loss:.4f} "
                  f"({time.perf_counter() - start:.2f} s)")
    print(f"{len(PROBLEMS)} problems, {bad} mismatches")
    raise SystemExit(1 if bad else 0)
