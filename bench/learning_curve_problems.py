"""The learning-curve problems of bench/learning_curves.py: each trains one configuration step by
step and yields its objective (a loss: lower is better) after every step up to `max_step`. The
list and what each measures is in that file's docstring."""

import math
import warnings


class Problem:
    name = ""
    max_step = 27
    space = []  # anchor-harness style: name, type float|int|categorical, low, high, log, choices
    f_star = None  # the known optimum at max_step, when there is one

    def curve(self, params):
        """Yields the objective after each step 1..max_step."""
        raise NotImplementedError


def _digits():
    from sklearn.datasets import load_digits

    return _split(*load_digits(return_X_y=True))


def _finite(value, cap):
    """A diverged model's loss (nan, inf) reported as the cap, as a script would clip it."""
    return value if math.isfinite(value) and value < cap else cap


def _log_loss_epochs(model, data, classes, steps):
    """Yields the validation log-loss after each of `steps` epochs of `partial_fit` (a model
    whose probabilities cannot be read, or diverged, counts as the cap, 5)."""
    import numpy as np
    from sklearn.metrics import log_loss

    X_train, X_valid, y_train, y_valid = data
    for _ in range(steps):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            model.partial_fit(X_train, y_train, classes=classes)
            try:
                value = log_loss(y_valid, model.predict_proba(X_valid), labels=classes)
            except ValueError:
                value = math.inf
        yield _finite(value, 5.0)


# The step size of the SGD problems: its start and its schedule.
_SGD_STEPS = [
    {"name": "eta0", "type": "float", "low": 1e-5, "high": 1.0, "log": True},
    {"name": "schedule", "type": "categorical", "choices": ["constant", "invscaling", "adaptive"]},
]


class MlpDigits(Problem):
    name = "mlp_digits"
    max_step = 27
    space = [
        {"name": "learning_rate_init", "type": "float", "low": 1e-4, "high": 0.3, "log": True},
        {"name": "alpha", "type": "float", "low": 1e-6, "high": 1.0, "log": True},
        {"name": "hidden", "type": "int", "low": 4, "high": 64, "log": True},
        {"name": "batch_size", "type": "int", "low": 16, "high": 512, "log": True},
    ]

    def __init__(self):
        self.data = _digits()

    def curve(self, params):
        import numpy as np
        from sklearn.neural_network import MLPClassifier

        classes = np.unique(self.data[2])
        model = MLPClassifier(hidden_layer_sizes=(int(params["hidden"]),),
                              learning_rate_init=params["learning_rate_init"],
                              alpha=params["alpha"], batch_size=int(params["batch_size"]),
                              random_state=0)
        yield from _log_loss_epochs(model, self.data, classes, self.max_step)


class SgdDigits(Problem):
    name = "sgd_digits"
    max_step = 27
    space = [
        {"name": "alpha", "type": "float", "low": 1e-7, "high": 1e-1, "log": True},
        *_SGD_STEPS,
        {"name": "loss", "type": "categorical", "choices": ["hinge", "log_loss", "modified_huber"]},
    ]

    def __init__(self):
        self.data = _digits()

    def curve(self, params):
        import numpy as np
        from sklearn.linear_model import SGDClassifier

        X_train, X_valid, y_train, y_valid = self.data
        classes = np.unique(y_train)
        model = SGDClassifier(alpha=params["alpha"], eta0=params["eta0"],
                              learning_rate=params["schedule"], loss=params["loss"],
                              random_state=0)
        for _ in range(self.max_step):
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                model.partial_fit(X_train, y_train, classes=classes)
                value = 1.0 - model.score(X_valid, y_valid)
            yield _finite(value, 1.0)


class GbmBreastCancer(Problem):
    name = "gbm_breast_cancer"
    max_step = 81
    space = [
        {"name": "learning_rate", "type": "float", "low": 1e-3, "high": 1.0, "log": True},
        {"name": "max_depth", "type": "int", "low": 1, "high": 6, "log": False},
        {"name": "subsample", "type": "float", "low": 0.2, "high": 1.0, "log": False},
        {"name": "min_samples_leaf", "type": "int", "low": 1, "high": 64, "log": True},
    ]

    def __init__(self):
        from sklearn.datasets import load_breast_cancer
        from sklearn.model_selection import train_test_split

        X, y = load_breast_cancer(return_X_y=True)
        self.data = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)

    def curve(self, params):
        from sklearn.ensemble import GradientBoostingClassifier
        from sklearn.metrics import log_loss

        X_train, X_valid, y_train, y_valid = self.data
        model = GradientBoostingClassifier(
            n_estimators=1, learning_rate=params["learning_rate"],
            max_depth=int(params["max_depth"]), subsample=params["subsample"],
            min_samples_leaf=int(params["min_samples_leaf"]), random_state=0, warm_start=True)
        # warm_start adds one round per fit: a pruned run costs only the rounds it took.
        for rounds in range(1, self.max_step + 1):
            model.set_params(n_estimators=rounds)
            model.fit(X_train, y_train)
            yield _finite(log_loss(y_valid, model.predict_proba(X_valid), labels=[0, 1]), 5.0)


def _split(X, y, stratify=True, scale=True):
    """70 / 30 train / validation (fixed), features standardised on the training part."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X_train, X_valid, y_train, y_valid = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y if stratify else None)
    if scale:
        scaler = StandardScaler().fit(X_train)
        X_train, X_valid = scaler.transform(X_train), scaler.transform(X_valid)
    return X_train, X_valid, y_train, y_valid


class SgdBreastCancer(Problem):
    """Logistic regression by SGD on breast cancer, one epoch per step, validation log-loss (a
    continuous objective: sgd_digits' error moves in steps of one validation sample)."""

    name = "sgd_breast_cancer"
    max_step = 27
    space = [
        {"name": "alpha", "type": "float", "low": 1e-7, "high": 1e-1, "log": True},
        *_SGD_STEPS,
        {"name": "penalty", "type": "categorical", "choices": ["l2", "l1", "elasticnet"]},
    ]

    def __init__(self):
        from sklearn.datasets import load_breast_cancer

        self.data = _split(*load_breast_cancer(return_X_y=True))

    def curve(self, params):
        from sklearn.linear_model import SGDClassifier

        model = SGDClassifier(loss="log_loss", alpha=params["alpha"], eta0=params["eta0"],
                              learning_rate=params["schedule"], penalty=params["penalty"],
                              random_state=0)
        yield from _log_loss_epochs(model, self.data, [0, 1], self.max_step)


class SgdDiabetes(Problem):
    """Linear regression by SGD on diabetes (targets standardised), one epoch per step,
    validation 1 − R² (mean squared error over the targets' variance)."""

    name = "sgd_diabetes"
    max_step = 27
    space = [
        {"name": "alpha", "type": "float", "low": 1e-7, "high": 1.0, "log": True},
        *_SGD_STEPS,
        {"name": "loss", "type": "categorical",
         "choices": ["squared_error", "huber", "epsilon_insensitive"]},
    ]

    def __init__(self):
        from sklearn.datasets import load_diabetes

        X_train, X_valid, y_train, y_valid = _split(*load_diabetes(return_X_y=True),
                                                    stratify=False)
        mean, sd = y_train.mean(), y_train.std()
        self.data = X_train, X_valid, (y_train - mean) / sd, (y_valid - mean) / sd

    def curve(self, params):
        import numpy as np
        from sklearn.linear_model import SGDRegressor

        X_train, X_valid, y_train, y_valid = self.data
        model = SGDRegressor(alpha=params["alpha"], eta0=params["eta0"],
                             learning_rate=params["schedule"], loss=params["loss"],
                             random_state=0)
        for _ in range(self.max_step):
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                model.partial_fit(X_train, y_train)
                residual = model.predict(X_valid) - y_valid
                value = float(np.mean(residual ** 2) / np.var(y_valid))
            yield _finite(value, 10.0)


class MlpBreastCancer(MlpDigits):
    """MLPClassifier on breast cancer, one epoch of partial_fit per step, validation log-loss."""

    name = "mlp_breast_cancer"
    space = [
        {"name": "learning_rate_init", "type": "float", "low": 1e-4, "high": 0.3, "log": True},
        {"name": "alpha", "type": "float", "low": 1e-6, "high": 1.0, "log": True},
        {"name": "hidden", "type": "int", "low": 2, "high": 64, "log": True},
        {"name": "batch_size", "type": "int", "low": 8, "high": 256, "log": True},
    ]

    def __init__(self):
        from sklearn.datasets import load_breast_cancer

        self.data = _split(*load_breast_cancer(return_X_y=True))


class GbmDiabetes(Problem):
    """Gradient boosting regression on diabetes, one round per step (81, `warm_start`),
    validation 1 − R²."""

    name = "gbm_diabetes"
    max_step = 81
    space = GbmBreastCancer.space

    def __init__(self):
        from sklearn.datasets import load_diabetes

        self.data = _split(*load_diabetes(return_X_y=True), stratify=False, scale=False)

    def curve(self, params):
        import numpy as np
        from sklearn.ensemble import GradientBoostingRegressor

        X_train, X_valid, y_train, y_valid = self.data
        model = GradientBoostingRegressor(
            n_estimators=1, learning_rate=params["learning_rate"],
            max_depth=int(params["max_depth"]), subsample=params["subsample"],
            min_samples_leaf=int(params["min_samples_leaf"]), random_state=0, warm_start=True)
        variance = float(np.var(y_valid))
        for rounds in range(1, self.max_step + 1):
            model.set_params(n_estimators=rounds)
            model.fit(X_train, y_train)
            value = float(np.mean((model.predict(X_valid) - y_valid) ** 2)) / variance
            yield _finite(value, 10.0)


class HgbDigits(Problem):
    """Histogram gradient boosting on digits, one boosting iteration (ten trees, one per class)
    per step (27, `warm_start`), validation log-loss."""

    name = "hgb_digits"
    max_step = 27
    space = [
        {"name": "learning_rate", "type": "float", "low": 1e-3, "high": 1.0, "log": True},
        {"name": "max_leaf_nodes", "type": "int", "low": 2, "high": 64, "log": True},
        {"name": "min_samples_leaf", "type": "int", "low": 1, "high": 100, "log": True},
        {"name": "l2_regularization", "type": "float", "low": 1e-6, "high": 10.0, "log": True},
    ]

    def __init__(self):
        self.data = _digits()

    def curve(self, params):
        import numpy as np
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.metrics import log_loss

        X_train, X_valid, y_train, y_valid = self.data
        classes = np.unique(y_train)
        model = HistGradientBoostingClassifier(
            max_iter=1, learning_rate=params["learning_rate"],
            max_leaf_nodes=int(params["max_leaf_nodes"]),
            min_samples_leaf=int(params["min_samples_leaf"]),
            l2_regularization=params["l2_regularization"], early_stopping=False,
            warm_start=True, random_state=0)
        for rounds in range(1, self.max_step + 1):
            model.set_params(max_iter=rounds)
            model.fit(X_train, y_train)
            value = log_loss(y_valid, model.predict_proba(X_valid), labels=classes)
            yield _finite(value, 5.0)


class Crossing(Problem):
    """loss(x, t) = q(x) + exp(-r(x0) t); r(x0) = 0.01 · 100^x0 (x0 = 1 learns 100 times faster
    than x0 = 0); q(x) = 2 (x0 - 0.25)^2 + sum_i (x_i - c_i)^2. At t = 81 the best x0 trades
    the slow start against q: about 0.37."""

    name = "crossing_d4"
    max_step = 81
    CENTRE = (None, 0.7, 0.2, 0.55)

    def __init__(self):
        self.space = [{"name": f"x{i}", "type": "float", "low": 0.0, "high": 1.0, "log": False}
                      for i in range(4)]
        grid = (i / 200000 for i in range(200001))
        self.f_star = min(self._at(x0, 0.0, self.max_step) for x0 in grid)

    @staticmethod
    def _at(x0, rest, t):
        return 2 * (x0 - 0.25) ** 2 + rest + math.exp(-0.01 * 100 ** x0 * t)

    def curve(self, params):
        x = [params[f"x{i}"] for i in range(4)]
        rest = sum((x[i] - c) ** 2 for i, c in enumerate(self.CENTRE) if c is not None)
        for t in range(1, self.max_step + 1):
            yield self._at(x[0], rest, t)


class Ordered(Problem):
    """loss(x, t) = q(x) + (0.2 + q(x)) exp(-0.05 t), q(x) = sum_i (x_i - c_i)^2: every run learns
    at the same pace, so the runs' order is the same at every step (asha's ideal, and the cost of
    `order_check` where no check is needed). Known optimum 0.2 exp(-0.05 · 81) at q = 0."""

    name = "ordered_d4"
    max_step = 81
    CENTRE = (0.3, 0.7, 0.2, 0.55)

    def __init__(self):
        self.space = [{"name": f"x{i}", "type": "float", "low": 0.0, "high": 1.0, "log": False}
                      for i in range(4)]
        self.f_star = 0.2 * math.exp(-0.05 * self.max_step)

    def curve(self, params):
        q = sum((params[f"x{i}"] - c) ** 2 for i, c in enumerate(self.CENTRE))
        for t in range(1, self.max_step + 1):
            yield q + (0.2 + q) * math.exp(-0.05 * t)


PROBLEMS = {p.name: p for p in (MlpDigits, SgdDigits, GbmBreastCancer, Crossing, Ordered,
                                 SgdBreastCancer, SgdDiabetes, MlpBreastCancer, GbmDiabetes,
                                 HgbDigits)}
