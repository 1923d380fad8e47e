"""``Optimizer`` and ``minimize``: the crate's ``hpsearch::optimizer`` (see src/optimizer.rs),
with Python types around it. Every rule (configs and their messages, suggestions, judging a told
value, imputing failures) is the crate's."""

import json
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Union

from . import _native


@dataclass(frozen=True)
class Trial:
    """One suggestion: its id (0, 1, 2, ... in the order asked) and its hyperparameter values;
    once told, what became of it. ``trial["lr"]`` is ``trial.params["lr"]``.

    ``state`` is ``pending``, ``succeeded``, ``failed``, ``cancelled`` or ``pruned``; ``value``
    the objective told (a pruned trial's: its last reported one, at ``step``); ``loss`` what the optimiser minimises (the value through ``y_transformation``, or the
    loss imputed to a failure per ``y_failure_value``; None when the failure is left out);
    ``failure`` the failure kind and ``reason`` why; ``label`` how it was suggested (the
    ``search_type`` column of a search's data file); ``max_step`` the step at which the trial is
    complete when the ``early_stopping`` rule sets one (asha, hyperband), as a search's
    input.json holds it."""

    id: int
    params: Dict[str, Any]
    label: str = ""
    state: str = "pending"
    value: Optional[float] = None
    loss: Optional[float] = None
    failure: Optional[str] = None
    reason: Optional[str] = field(default=None, repr=False)
    step: Optional[int] = None
    max_step: Optional[int] = None

    def __getitem__(self, name: str) -> Any:
        return self.params[name]


Config = Union[dict, str, "os.PathLike[str]"]


def _source(config: Config, what: str):
    """(text, is_file): a dict as JSON text, a path as a path."""
    if isinstance(config, dict):
        return json.dumps(config, allow_nan=False), False
    if isinstance(config, (str, os.PathLike)):
        return os.fspath(config), True
    raise TypeError(f"{what}: a dict or the path of a JSON file, not {type(config).__name__}")


class Optimizer:
    """The optimiser of an hpsearch search, asked and told in this process.

    ``space`` is a model_config.json: a dict, or the path of the file. Its hyperparameters are
    suggested; its fixed values are not part of ``params``. ``search_config`` is a
    search_config.json (dict or path; default: ``bopt`` with every default). ``seed`` is its
    ``random_seed``; without one, a seed is drawn (see ``seed``). The config means what it
    means for a search, defaults included: a told value is an objective, as a script's
    output.json holds it, and ``y_transformation`` (default ``log``, log10 of a positive
    objective) makes it the loss; name ``"y_transformation": "none"`` for an objective that can
    be zero or negative. ``max_suggestions`` (default 200) limits ``ask``, and bopt spends its
    last 30% on its model's best guess (set it to your budget; ``bopt_config``'s
    ``final_exploitation`` sets the share, 0 turns it off). Right after its space-filling
    suggestions it asks for the best combination so far once more, to learn whether the loss is
    noisy (``bopt_config``'s ``noise_check``; false turns it off). The same seed,
    space, config and told values give the suggestions ``hpsearch run`` makes one run at a time;
    ``ask(n)`` suggests as a search fills n free slots.

    A config error raises ValueError with the one-line message the command line prints.
    """

    def __init__(self, space: Config, search_config: Optional[Config] = None,
                 seed: Optional[int] = None):
        space_text, space_is_file = _source(space, "space")
        config_text, config_is_file = (None, False)
        if search_config is not None:
            config_text, config_is_file = _source(search_config, "search_config")
        self._native = _native.Optimizer(space_text, space_is_file, config_text,
                                         config_is_file, seed)
        for warning in self._native.warnings:
            warnings.warn(warning, stacklevel=2)

    @property
    def seed(self) -> int:
        """The seed of the suggestions: given, or drawn (pass it to reproduce them)."""
        return self._native.seed

    @property
    def search_type(self) -> str:
        return self._native.search_type

    def ask(self, n: Optional[int] = None):
        """The next trial (None when the strategy has nothing left: a finished grid, or
        ``max_suggestions``); with ``n``, a list of up to n trials suggested together, each with
        the ones before it pending."""
        if n is None:
            trials = self._native.ask(1)
            return Trial(**trials[0]) if trials else None
        if n < 0:
            raise ValueError(f"ask({n}): the number of trials cannot be negative")
        return [Trial(**t) for t in self._native.ask(n)]

    def tell(self, trial: Union[Trial, int], value: Union[float, str, None] = None, *,
             failure: Optional[str] = None) -> Trial:
        """Tells what became of a trial (or trial id): its objective ``value``, or a failure
        kind as a search records it (``non_zero_exit``, ``timed_out``, ``out_of_memory``, ...,
        ``cancelled``, or ``pruned`` for a trial stopped after ``report``: it stands at its last
        reported value), as ``failure=`` or in place of the value. A value that is not finite,
        or that ``y_transformation`` cannot take, makes a failed trial, as in a search."""
        if isinstance(value, str) and failure is None:
            value, failure = None, value
        trial_id = trial.id if isinstance(trial, Trial) else trial
        told = Trial(**self._native.tell(trial_id, value, failure))
        if told.failure == "transformation_failed":
            warnings.warn(f"trial {told.id}: {told.reason}", stacklevel=2)
        for note in self._native.take_notes():
            warnings.warn(note, stacklevel=2)
        return told

    def report(self, trial: Union[Trial, int], step: int, value: float) -> bool:
        """A pending trial's intermediate result: its objective ``value`` after ``step`` (steps
        increase from 1; the objective in the units ``tell`` takes), as a search's progress.jsonl
        line. Returns True when the search config's ``early_stopping`` rule stops the trial
        there: stop its work and ``tell(trial, "pruned")``. With the rule off it never does."""
        trial_id = trial.id if isinstance(trial, Trial) else trial
        return self._native.report(trial_id, step, value) is not None

    @property
    def trials(self) -> List[Trial]:
        """Every trial, in the order asked."""
        return [Trial(**t) for t in self._native.trials()]

    @property
    def observations(self) -> List[Trial]:
        """The trials told, in the order asked."""
        return [t for t in self.trials if t.state != "pending"]

    @property
    def best(self) -> Optional[Trial]:
        """The succeeded trial with the lowest loss, or None."""
        best = self._native.best()
        return Trial(**best) if best is not None else None

    def __repr__(self) -> str:
        told = len(self.observations)
        return f"<hpsearch.Optimizer {self.search_type}, seed {self.seed}, {told} told>"


def minimize(fn: Callable[[Dict[str, Any]], Optional[float]], space: Config, n_trials: int, *,
             search_config: Optional[Config] = None, seed: Optional[int] = None) -> Optimizer:
    """Minimises ``fn(params)`` over ``space`` with ``n_trials`` evaluations (fewer when a grid
    runs out); returns the Optimizer (``.best``, ``.observations``).

    ``fn`` returns the objective. None is recorded as ``missing_output`` and a non-finite value
    as ``non_finite_objective`` (failed trials, imputed per ``y_failure_value``); an exception
    is recorded as ``non_zero_exit`` and raised.
    """
    optimizer = Optimizer(space, search_config, seed)
    for _ in range(n_trials):
        trial = optimizer.ask()
        if trial is None:
            break
        try:
            value = fn(dict(trial.params))
        except BaseException:
            optimizer.tell(trial, failure="non_zero_exit")
            raise
        if value is None:
            optimizer.tell(trial, failure="missing_output")
        else:
            optimizer.tell(trial, value)
    return optimizer
