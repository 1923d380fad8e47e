"""hpsearch for Python: the hpsearch command, its optimiser in process, and helpers.

- ``Optimizer(space, search_config=None, seed=None)``: ask/tell with the optimiser of a search
  (``bopt`` unless the config says otherwise), in this process; ``minimize(fn, space, n_trials)``.
- ``script``: ``read_input()``, ``report(step, objective, **metrics)``,
  ``write_output(objective, **metrics)`` for analysis scripts that hpsearch runs.
- ``load(search_folder)``: a search's results, from its snapshot ``hp_search_state.json``.

The ``hpsearch`` command installed with this package is the hpsearch binary itself.

Example::

    import hpsearch
    space = {"lr": {"type": "continuous", "domain": [1e-5, 1e-1], "transformation": "log"},
             "layers": {"type": "integer", "domain": [1, 8]}}
    opt = hpsearch.Optimizer(space, seed=0)
    for _ in range(20):
        trial = opt.ask()
        opt.tell(trial, train(trial.params))
    print(opt.best.params)
"""

from . import _native, script
from ._optimizer import Optimizer, Trial, minimize
from ._results import Results, load

__version__ = _native.__version__

__all__ = ["Optimizer", "Trial", "minimize", "Results", "load", "script", "__version__"]
