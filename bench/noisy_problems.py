"""Noisy copies of problems whose losses span decades, to check that bopt's handling of such
losses (the Box-Cox warp and its bounded noise) survives noise, as a user's losses have it.

Loaded by the anchor harness through HPS_EXTRA_PROBLEMS=bench/noisy_problems.py
(`bash bench/anchors.sh --noisy`). A solver sees the noisy value; `noisy_regret.py` scores the
noiseless value at the settings the solver found best, as a user would rerun them. The noise is a
pseudo-random function of the settings and of how many times the run has evaluated them before,
so runs are reproducible and a repeat of the same settings draws fresh noise, as a rerun of a
noisy training does (the first evaluation of any settings draws what it always drew, so earlier
records stay valid).
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


def standard_normal(name, params, repeat=0):
    """A standard normal draw fixed by the problem's name, the settings and the repeat (0 for the
    first evaluation of those settings)."""
    key = name + repr(sorted((k, float(v)) for k, v in params.items()))
    if repeat:
        key += f"#{repeat}"
    return random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:15], 16)).gauss(0.0, 1.0)


def fresh_normal(problem, params):
    """The draw for `problem`'s next evaluation of `params` (counted in `problem.evaluations`): a
    repeat of the same settings draws fresh noise, as a rerun of a noisy training does."""
    key = repr(sorted((k, float(v)) for k, v in params.items()))
    repeat = problem.evaluations.get(key, 0)
    problem.evaluations[key] = repeat + 1
    return standard_normal(problem.name, params, repeat)


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


NOISY_BROAD_DIMS = (2, 5)
NOISY_BROAD_INSTANCE = 4
NOISY_BROAD = [NoisyBbob(f, d, NOISY_BROAD_INSTANCE, m)
               for m in NoisyBbob.MODELS for d in NOISY_BROAD_DIMS for f in range(1, 25)]

PROBLEMS = {p.name: p for p in (
    Noisy("rosenbrock4", relative=0.2), Noisy("rosenbrock4", relative=0.5),
    Noisy("levy10", relative=0.2), Noisy("goldstein", relative=0.5),
    Noisy("goldstein", additive=1.0), Noisy("branin", additive=0.1), Noisy("branin", additive=0.5),
    *NOISY_BROAD)}

if __name__ == "__main__":
    for p in PROBLEMS.values():
        v = p.true(p.x_star)
        print(f"{p.name:18s} f(x*)={v:.12g} f*={p.f_star:.12g} {'OK' if abs(v - p.f_star) < 1e-9 else 'MISMATCH'}")
