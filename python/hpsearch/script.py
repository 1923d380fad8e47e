"""Helpers for an analysis script that hpsearch runs (as ``ENVIRONMENT SCRIPT input.json``, in
the run's folder): the file contract of README.md, "Your script", in three calls.

    from hpsearch.script import read_input, report, write_output
    config = read_input()                 # input.json: the variables and save_folder
    for epoch in range(config["epochs"]):
        ...
        report(epoch, validation_loss)    # one line of {save_folder}/progress.jsonl
    write_output(validation_loss, accuracy=acc)   # {save_folder}/output.json

Standard library only, so a script's environment needs nothing but this package.
"""

import json
import os
import sys
from typing import Any, Dict, Optional

_save_folder: Optional[str] = None


def read_input(path: Optional[str] = None) -> Dict[str, Any]:
    """The run's input.json (default: the script's first argument, as hpsearch passes it):
    every variable of model_config.json with one value per hyperparameter, and
    ``save_folder``, which ``report`` and ``write_output`` write to."""
    global _save_folder
    if path is None:
        if len(sys.argv) < 2:
            raise SystemExit(f"usage: {sys.argv[0]} /path/to/input.json (as hpsearch runs it)")
        path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    if isinstance(config, dict) and isinstance(config.get("save_folder"), str):
        _save_folder = config["save_folder"]
    return config


def save_folder() -> str:
    """Where this run's files go: input.json's ``save_folder``, or the current directory (the
    run's folder, where hpsearch starts the script) before ``read_input``."""
    return _save_folder if _save_folder is not None else os.getcwd()


def _number(value: Any) -> Any:
    # NumPy and similar scalars: their Python number.
    for convert in ("item", "__float__"):
        if hasattr(value, convert):
            return getattr(value, convert)()
    raise TypeError(f"{value!r} is not a number")


def report(step: int, objective: float, **metrics: Any) -> None:
    """Appends ``{"step": step, "objective": objective, **metrics}`` as one line to
    ``{save_folder}/progress.jsonl``: the run's progress, for early stopping and the report."""
    line = json.dumps({"step": step, "objective": objective, **metrics}, default=_number)
    with open(os.path.join(save_folder(), "progress.jsonl"), "a", encoding="utf-8") as f:
        f.write(line + "\n")


def write_output(objective: float, **metrics: Any) -> None:
    """Writes ``{save_folder}/output.json``: ``{"objective": objective, **metrics}``. A NaN or
    infinite objective is recorded by hpsearch as a failed run; numeric metrics are kept."""
    text = json.dumps({"objective": objective, **metrics}, default=_number)
    path = os.path.join(save_folder(), "output.json")
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(partial, path)
