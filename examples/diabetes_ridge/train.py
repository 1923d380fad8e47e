#!/usr/bin/env python3
"""Example hpsearch analysis: kernel ridge regression on scikit-learn's
bundled diabetes data set (442 patients, 10 features; no download needed).

hpsearch runs this as:   python3 train.py /abs/path/to/input.json
input.json holds the hyperparameters chosen for this run (alpha, gamma,
kernel), the fixed values of model_config.json (validation_fraction,
split_seed) and "save_folder". We write {save_folder}/output.json with the
validation mean squared error as the objective (lower is better).
"""
import json
import os
import sys
import zlib

from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

with open(sys.argv[1]) as f:
    config = json.load(f)

# "phase" is absent or "validation" during the search; hpsearch sets it to
# "test" for the final evaluation of the chosen hyperparameters.
phase = config.get("phase", "validation")
seed = int(config["split_seed"])

# The test set is fixed (20%, split_seed). The train/validation split of the
# rest is drawn afresh for every run (seeded by the run's folder), so repeated
# runs of one setting (hpsearch's replicate phase) measure the score's noise.
X, y = load_diabetes(return_X_y=True)
X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.2, random_state=seed)
run_seed = zlib.crc32(config["save_folder"].encode())
X_train, X_val, y_train, y_val = train_test_split(
    X_rest, y_rest, test_size=float(config["validation_fraction"]), random_state=run_seed)

if phase == "test":
    # Final evaluation: refit on train + validation, score on the untouched test set.
    X_fit, y_fit, X_eval, y_eval = X_rest, y_rest, X_test, y_test
else:
    # During the search: fit on train, score on validation. The test set is never used.
    X_fit, y_fit, X_eval, y_eval = X_train, y_train, X_val, y_val

# Standardize features (and the target, since KernelRidge has no intercept);
# the scalers are fitted on the training data only.
model = TransformedTargetRegressor(
    regressor=make_pipeline(
        StandardScaler(),
        KernelRidge(alpha=float(config["alpha"]), gamma=float(config["gamma"]),
                    kernel=config["kernel"]),
    ),
    transformer=StandardScaler(),
)
model.fit(X_fit, y_fit)

pred = model.predict(X_eval)
result = {
    "objective": float(mean_squared_error(y_eval, pred)),  # validation (or test) MSE
    "train_mse": float(mean_squared_error(y_fit, model.predict(X_fit))),
    "r2": float(r2_score(y_eval, pred)),
}
with open(os.path.join(config["save_folder"], "output.json"), "w") as f:
    json.dump(result, f)
