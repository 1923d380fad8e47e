#!/usr/bin/env python3
"""Template analysis script for hpsearch (Python; the standard library is enough).

hpsearch runs this as:   ENVIRONMENT analysis_template.py /abs/path/to/input.json
with the current directory set to the run's folder.

input.json holds every variable of your model_config.json, with each
hyperparameter replaced by one concrete value, plus "save_folder" (the run's
folder). This script must write {save_folder}/output.json containing the
objective (lower is better unless the search's y_transformation is
"neg"/"neglog"). Allowed forms: a number, a list whose first element is the
objective, or an object {"objective": ..., other numeric metrics ...}.

With the hpsearch Python package installed in ENVIRONMENT (pip install of the
wheel, see README.md), its helpers do the file handling; without it, the few
lines below do the same.
"""
import json
import math
import os
import sys

try:
    from hpsearch.script import read_input, report, write_output
except ImportError:  # the hpsearch package is not installed: the same by hand
    _save_folder = os.getcwd()

    def read_input(path=None):
        global _save_folder
        with open(path or sys.argv[1]) as f:
            config = json.load(f)
        _save_folder = config["save_folder"]
        return config

    def report(step, objective, **metrics):
        with open(os.path.join(_save_folder, "progress.jsonl"), "a") as f:
            f.write(json.dumps({"step": step, "objective": objective, **metrics}) + "\n")

    def write_output(objective, **metrics):
        with open(os.path.join(_save_folder, "output.json"), "w") as f:
            json.dump({"objective": objective, **metrics}, f)

# 1. Read the variables chosen for this run.
config = read_input()

learning_rate = float(config["learning_rate"])  # continuous hyperparameter
num_layers = int(config["num_layers"])          # discrete hyperparameter
activation = config["activation"]               # categorical hyperparameter
# A conditional hyperparameter ("condition" in model_config.json) is in input.json only when
# its condition holds: dropout only with 2 or more layers.
dropout = config.get("dropout")                 # None when inactive
epochs = int(config["epochs"])                  # fixed value

# "phase" is absent or "validation" during the search and "test" for the final (run by `hpsearch test SEARCH`)
# evaluation: when it is "test", score on held-out test data instead of the
# validation split.
phase = config.get("phase", "validation")

# 2. YOUR ANALYSIS GOES HERE: load data, train with the hyperparameters above,
#    and compute a score on the validation split (or the test split when
#    phase == "test"). The toy score below stands in for it; its minimum is at
#    learning_rate = 1e-3, num_layers = 3. report() records the score as
#    training goes, one line per step in {save_folder}/progress.jsonl (optional).
final = (math.log10(learning_rate) + 3) ** 2 + 0.1 * (num_layers - 3) ** 2
if activation == "tanh":
    final += 0.05
if dropout is not None:
    final += 0.2 * (float(dropout) - 0.1) ** 2
objective = float("nan")
for epoch in range(1, epochs + 1):
    objective = final + (1.0 / epoch - 1.0 / epochs)  # the toy improves each epoch
    report(epoch, objective)
some_metric = 1.0 / (1.0 + objective)  # any extra numeric metrics are kept

# 3. Write the result. Keep "objective"; add any other numeric keys you like.
write_output(objective, some_metric=some_metric)
