"""Noisy problems, as a user's losses are noisy: copies of anchor-suite problems whose losses
span decades (`ANCHOR_COPIES`, `bash bench/anchors.sh --noisy`), and the held-out noisy broad
set (`bash bench/anchors.sh --noisy-broad`): BBOB in 2, 5 and 10 D with two noise models
(`NoisyBbob`) and scikit-learn models cross-validated on a fresh split each time (`NoisyModel`).

Loaded by the anchor harness through HPS_EXTRA_PROBLEMS=bench/noisy_problems.py. A solver sees
the noisy value; `noisy_regret.py` scores the noiseless value at the settings the solver found
best, as a user would rerun them. The noise is a pseudo-random function of the settings and of
how many times the run has evaluated them before, so runs are reproducible and a repeat of the
same settings draws fresh noise, as a rerun of a noisy training does (the first evaluation of any
settings draws what it always drew, so earlier records stay valid).
"""
import hashlib
import importlib.util
import math
import os
import random

from problems import Problem, PROBLEMS as SUITE

_spec = importlib.util.spec_from_file_location(
    "hpsearch_extra_problems", os.path.join(os.path.dirname(os.path.abspath(__file__)), "extra_problems.py"))
_extra = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_extra)
# The broad benchmark's BBOB problems, loaded as a copy of their own: broad_problems may be the
# module whose import is loading this one (the harness loads HPS_EXTRA_PROBLEMS as it starts).
_spec = importlib.util.spec_from_file_location(
    "hpsearch_broad_problems", os.path.join(os.path.dirname(os.path.abspath(__file__)), "broad_problems.py"))
_broad = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_broad)
BASES = {**SUITE, **_extra.PROBLEMS}


def _settings_key(params):
    """The settings as text (numbers as floats, categorical values as they are)."""
    return repr(sorted((k, v if isinstance(v, str) else float(v)) for k, v in params.items()))


def _generator(name, params, repeat=0):
    """A random generator fixed by the problem's name, the settings and the repeat (0 for the
    first evaluation of those settings)."""
    key = name + _settings_key(params)
    if repeat:
        key += f"#{repeat}"
    return random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:15], 16))


def standard_normal(name, params, repeat=0):
    """A standard normal draw fixed by the problem's name, the settings and the repeat."""
    return _generator(name, params, repeat).gauss(0.0, 1.0)


def _next_repeat(problem, params):
    """How many times `problem` has evaluated `params` before (counted in `problem.evaluations`)."""
    key = _settings_key(params)
    repeat = problem.evaluations.get(key, 0)
    problem.evaluations[key] = repeat + 1
    return repeat


def fresh_normal(problem, params):
    """The draw for `problem`'s next evaluation of `params`: a repeat of the same settings draws
    fresh noise, as a rerun of a noisy training does."""
    return standard_normal(problem.name, params, _next_repeat(problem, params))


def fresh_seed(problem, params):
    """A seed for `problem`'s next evaluation of `params` (fresh for a repeat, as `fresh_normal`)."""
    return _generator(problem.name, params, _next_repeat(problem, params)).randrange(1, 2**31)


class Noisy(Problem):
    """`base` with noise: relative (the loss times exp(σ·z), constant on a log scale) or additive
    (the loss plus sd·z, kept above zero), so the noise dominates near the minimum."""

    def __init__(self, base, relative=None, additive=None):
        self.base = BASES[base]
        self.relative, self.additive = relative, additive
        self.name = f"{base}_rel{round(relative * 100)}" if relative else f"{base}_add{additive:g}"
        self.space, self.f_star, self.x_star = self.base.space, self.base.f_star, self.base.x_star
        self.budget = self.base.budget
        self.evaluations = {}

    def true(self, params):
        return self.base(params)

    def __call__(self, params):
        z = fresh_normal(self, params)
        if self.relative:
            return self.base(params) * math.exp(self.relative * z)
        return max(self.base(params) + self.additive * z, 1e-9)


class NoisyBbob(Problem):
    """A BBOB function of the broad benchmark with noise on its distance to the optimum, for the
    noisy broad set (`bash bench/anchors.sh --noisy-broad`), on instance 4, which no default was
    chosen on. Two noise models, named by the suffix:

    - `_gn`: COCO's bbob-noisy "severe Gaussian" model, f* + (f − f*)·exp(z): noise relative to the
      regret, so it shrinks near the optimum (half a decade either way at one sd);
    - `_add`: f + s·z, with s 1% of the median regret at 64 fixed uniform points: an additive
      floor, as a validation loss has, that no search can see below.
    """

    MODELS = ("gn", "add")

    def __init__(self, function, dim, instance, model):
        self.base = _broad.Bbob(function, dim, instance)
        self.model = model
        self.name = f"{self.base.name}_{model}"
        self.space, self.budget = self.base.space, self.base.budget
        self.evaluations = {}
        self._scale = None

    @property
    def f_star(self):
        return self.base.f_star

    @property
    def x_star(self):
        return self.base.x_star

    def true(self, params):
        return self.base(params)

    def scale(self):
        """The additive model's sd: 1% of the median regret at 64 uniform points drawn from a
        generator seeded by the problem's name."""
        if self._scale is None:
            draw = random.Random(self.base.name)
            regrets = sorted(self.base({h["name"]: draw.uniform(h["low"], h["high"]) for h in self.space})
                             - self.f_star for _ in range(64))
            self._scale = 0.01 * (regrets[31] + regrets[32]) / 2
        return self._scale

    def __call__(self, params):
        z = fresh_normal(self, params)
        f = self.base(params)
        if self.model == "gn":
            return self.f_star + (f - self.f_star) * math.exp(z)
        return f + self.scale() * z


class NoisyModel(Problem):
    """A scikit-learn model of the broad benchmark (`skl_<model>_<data>_cv`) whose 3-fold
    cross-validation is drawn afresh at every evaluation: the split and every random_state of the
    model (forest, boosting, tree, the saga solver's shuffling) come from a new seed, so the same
    settings give another loss each time, as a user's tuning on shuffled folds or on a model with
    random initialisation sees it. The noise is the data's own, not a model of it: a floor of
    about 0.5-1% error on the classification sets. Its noiseless loss is the mean over
    `TRUE_SPLITS` fixed seeds (what a user who reruns the settings many times would expect);
    log10 of it is ranked (f* = 0, as for the broad benchmark's models).
    """

    TRUE_SPLITS = 8

    def __init__(self, model, data):
        self.base = _broad.SklearnModel(model, data)
        self.name = f"{self.base.name}_cv"
        self.space, self.budget = self.base.space, self.base.budget
        self.f_star, self.x_star = 0.0, {}
        self.evaluations = {}

    def true(self, params):
        return sum(self.base.loss(params, seed=10_000 + k) for k in range(self.TRUE_SPLITS)) / self.TRUE_SPLITS

    def __call__(self, params):
        return self.base.loss(params, seed=fresh_seed(self, params))


NOISY_BROAD_DIMS = (2, 5, 10)
NOISY_BROAD_INSTANCE = 4
NOISY_BROAD = [NoisyBbob(f, d, NOISY_BROAD_INSTANCE, m)
               for m in NoisyBbob.MODELS for d in NOISY_BROAD_DIMS for f in range(1, 25)]
# The broad benchmark's models but the MLPs and the boosting ones: those take seconds per
# evaluation (two hours a solver for ten seeds on 2 cores), and the MLPs' max_iter cut-off makes
# their losses depend on the BLAS as much as on the seed.
NOISY_MODELS = [NoisyModel(m, d) for m, d in _broad.MODEL_PROBLEMS if m not in ("mlp", "boosting")]

# The noisy copies of anchor-suite problems (`bash bench/anchors.sh --noisy`).
ANCHOR_COPIES = [
    Noisy("rosenbrock4", relative=0.2), Noisy("rosenbrock4", relative=0.5),
    Noisy("levy10", relative=0.2), Noisy("goldstein", relative=0.5),
    Noisy("goldstein", additive=1.0), Noisy("branin", additive=0.1), Noisy("branin", additive=0.5)]

PROBLEMS = {p.name: p for p in (*ANCHOR_COPIES, *NOISY_BROAD, *NOISY_MODELS)}

if __name__ == "__main__":
    for p in PROBLEMS.values():
        if not p.x_star:  # the noisy models: no known optimum
            continue
        v = p.true(p.x_star)
        print(f"{p.name:18s} f(x*)={v:.12g} f*={p.f_star:.12g} {'OK' if abs(v - p.f_star) < 1e-9 else 'MISMATCH'}")
