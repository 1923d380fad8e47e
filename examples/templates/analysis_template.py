#!/usr/bin/env python3
"""Template analysis script for hpsearch (Python, standard library only).

hpsearch runs this as:   ENVIRONMENT analysis_template.py /abs/path/to/input.json
with the current directory set to the run's folder.

input.json holds every variable of your model_config.json, with each
hyperparameter replaced by one concrete value, plus "save_folder" (the run's
folder). This script must write {save_folder}/output.json containing the
objective (lower is better unless the search's y_transformation is
"neg"/"neglog"). Allowed forms: a number, a list whose first element is the
objective, or an object {"objective": ..., other numeric metrics ...}.
"""
import json
import math
import os
import sys

# 1. Read the variables chosen for this run.
with open(sys.argv[1]) as f:
    config = json.load(f)

learning_rate = float(config["learning_rate"])  # continuous hyperparameter
num_layers = int(config["num_layers"])          # discrete hyperparameter
activation = config["activation"]               # categorical hyperparameter
epochs = config["epochs"]                       # fixed value
save_folder = config["save_folder"]

# "phase" is absent or "validation" during the search and "test" for the final (run by `hpsearch test SEARCH`)
# evaluation: when it is "test", score on held-out test data instead of the
# validation split.
phase = config.get("phase", "validation")

# 2. YOUR ANALYSIS GOES HERE: load data, train with the hyperparameters above,
#    and compute a score on the validation split (or the test split when
#    phase == "test"). The toy score below stands in for it; its minimum is at
#    learning_rate = 1e-3, num_layers = 3.
objective = (math.log10(learning_rate) + 3) ** 2 + 0.1 * (num_layers - 3) ** 2
if activation == "tanh":
    objective += 0.05
some_metric = 1.0 / (1.0 + objective)  # any extra numeric metrics are kept

# 3. Write the result. Keep "objective"; add any other numeric keys you like.
with open(os.path.join(save_folder, "output.json"), "w") as f:
    json.dump({"objective": objective, "some_metric": some_metric}, f)
