"""`hpsearch.Optimizer` in process: the same suggestions as the command line's for the same seed,
batches with the earlier trials pending, failures told, config errors as ValueError."""

import json
import math
import warnings

import pytest

import hpsearch

MODEL = {"x": {"type": "continuous", "domain": [-1, 1]},
         "lr": {"type": "continuous", "domain": [1e-4, 1e-1], "transformation": "log"},
         "n": {"type": "integer", "domain": [1, 6]},
         "act": {"type": "categorical", "domain": ["relu", "tanh"]},
         "epochs": 3}


def objective(p):
    """Rounded, so that output.json's text carries exactly the value told in process."""
    loss = (p["x"] - 0.3) ** 2 + (math.log10(p["lr"]) + 2.5) ** 2 / 4 + 0.05 * abs(p["n"] - 4)
    return round(loss + (0.2 if p["act"] == "tanh" else 0.0), 6)


def fails(p):
    return p["x"] < -0.6


SCRIPT = f"""\
import json, math, os, sys
p = json.load(open(sys.argv[1]))
def objective(p):
{chr(10).join('    ' + line for line in '''loss = (p["x"] - 0.3) ** 2 + (math.log10(p["lr"]) + 2.5) ** 2 / 4 + 0.05 * abs(p["n"] - 4)
return round(loss + (0.2 if p["act"] == "tanh" else 0.0), 6)'''.splitlines())}
if p["x"] < -0.6:
    sys.exit(1)
json.dump(objective(p), open(os.path.join(p["save_folder"], "output.json"), "w"))
"""


@pytest.mark.parametrize("search", [
    {"search_type": "bopt", "min_initial_points": 4},
    {"search_type": "bopt", "min_initial_points": 3, "y_transformation": "log",
     "bopt_config": {"kernel": ["Matern52", "ExpQuad"], "acquisition_type": ["EI", "LCB"]}},
    {"search_type": "random", "y_transformation": "none", "y_failure_value": 3.5},
])
def test_the_same_seed_gives_the_command_lines_suggestions(project, search):
    search = {**search, "random_seed": 11, "max_suggestions": 10, "max_active_points": 1,
              "stop_after_failures": 0}
    project.script("score.py", SCRIPT)
    project.configs("score.py", MODEL, search)
    project.hpsearch("run", ".")
    cli = sorted(project.snapshot()["combinations"], key=lambda c: c["id"])
    assert len(cli) == 10
    assert any(c["state"] == "failed" for c in cli), "a failure to impute"

    # The same files, read by the optimiser; each result told as the search recorded it.
    optimizer = hpsearch.Optimizer(project.path / "model_config.json",
                                   project.path / "search_config.json")
    assert optimizer.seed == 11
    for c in cli:
        trial = optimizer.ask()
        assert (trial.id, trial.params, trial.label) == (c["id"], c["params"], c["search_type"])
        if fails(trial.params):
            optimizer.tell(trial, failure="non_zero_exit")
        else:
            optimizer.tell(trial, objective(trial.params))
    for told, c in zip(optimizer.trials, cli):
        assert (told.state, told.failure, told.value, told.loss) == \
            (c["state"], c["failure_kind"], c["objective"], c["loss"]), c
    assert optimizer.ask() is None, "max_suggestions named: no more"


def test_a_batch_is_suggested_with_the_earlier_trials_pending():
    def start():
        optimizer = hpsearch.Optimizer(MODEL, {"min_initial_points": 4}, seed=5)
        for trial in optimizer.ask(4):
            optimizer.tell(trial, objective(trial.params))
        return optimizer

    first = start()
    batch = first.ask(4)
    assert [t.id for t in batch] == [4, 5, 6, 7]
    assert all(t.state == "pending" for t in batch)
    keys = {json.dumps(t.params, sort_keys=True) for t in batch}
    assert len(keys) == 4, "kriging believer: every trial of a batch is a new combination"
    assert [t.params for t in start().ask(4)] == [t.params for t in batch], "deterministic"

    # The first of a batch is what a single ask gives; the second knows the first is running.
    single = start()
    assert single.ask().params == batch[0].params
    assert len(first.observations) == 4 and len(first.trials) == 8


def test_failures_are_told_and_imputed_as_a_search_imputes_them():
    optimizer = hpsearch.Optimizer(MODEL, {"search_type": "random", "y_transformation": "none"},
                                   seed=1)
    a, b, c, d, e, f = optimizer.ask(6)
    told = optimizer.tell(a, "timed_out")
    assert (told.state, told.failure, told.loss) == ("failed", "timed_out", None)
    optimizer.tell(b, 2.0)
    optimizer.tell(c, 4.0)
    # `max`: worst + 0.05 * max(|worst|, worst - best), kept current as results arrive.
    assert optimizer.trials[0].loss == pytest.approx(4.2)
    assert optimizer.tell(d, failure="cancelled").state == "cancelled"
    assert optimizer.trials[3].loss is None
    nan = optimizer.tell(e, float("nan"))
    assert (nan.state, nan.failure) == ("failed", "non_finite_objective")
    lost = optimizer.tell(f, failure="lost")
    assert lost.loss is None, "infrastructure failures are left out unless the config names them"
    assert optimizer.best.id == b.id and optimizer.best.value == 2.0
    assert [t.id for t in optimizer.observations] == [0, 1, 2, 3, 4, 5]

    with pytest.raises(ValueError, match="already told"):
        optimizer.tell(b, 1.0)
    with pytest.raises(ValueError, match="no trial 99"):
        optimizer.tell(99, 1.0)
    with pytest.raises(ValueError, match="out_of_memory") as unknown:
        optimizer.tell(optimizer.ask(), failure="oom")
    assert "cancelled" in str(unknown.value)


def test_log_refuses_what_a_search_refuses():
    optimizer = hpsearch.Optimizer(MODEL, {"search_type": "sobol", "y_transformation": "log"},
                                   seed=0)
    ok, refused = optimizer.ask(2)
    assert optimizer.tell(ok, 100.0).loss == 2.0
    with pytest.warns(UserWarning, match="log10"):
        told = optimizer.tell(refused, -1.0)
    assert (told.state, told.failure, told.value) == ("failed", "transformation_failed", -1.0)
    assert "log10" in told.reason


def test_minimize_is_a_one_liner():
    best = hpsearch.minimize(objective, MODEL, n_trials=12, seed=3).best
    assert best.state == "succeeded" and set(best.params) == {"x", "lr", "n", "act"}
    again = hpsearch.minimize(objective, MODEL, n_trials=12, seed=3)
    assert again.best == best

    grid = hpsearch.minimize(lambda p: None if p["n"] > 3 else p["x"],
                             {"x": {"type": "continuous", "domain": [0, 1]},
                              "n": {"type": "integer", "domain": [1, 6]}},
                             n_trials=100, seed=0,
                             search_config={"search_type": "grid", "y_transformation": "none"})
    told = grid.observations
    assert 1 < len(told) < 100, "the grid runs out"
    assert len({json.dumps(t.params) for t in told}) == len(told)
    assert {t.failure for t in told if t.params["n"] > 3} == {"missing_output"}

    def broken(params):
        raise RuntimeError("a bug in the objective")

    with pytest.raises(RuntimeError, match="a bug"):
        hpsearch.minimize(broken, MODEL, n_trials=5, seed=0)


def test_config_errors_are_value_errors_with_the_command_lines_message(project):
    project.script("score.py", "")
    bad_model = {**MODEL, "x": {"type": "continuous", "domain": [1]}}
    project.configs("score.py", bad_model, {"search_type": "bopt"})
    cli = project.hpsearch("run", ".", check=False)
    assert cli.returncode == 2
    message = cli.stderr.strip().splitlines()[-1]
    assert message.startswith("error: ")
    with pytest.raises(ValueError) as error:
        hpsearch.Optimizer(project.path / "model_config.json",
                           project.path / "search_config.json")
    assert str(error.value) == message[len("error: "):]
    assert "model_config.json: field `x.domain`" in str(error.value)

    project.write_json("model_config.json", MODEL)
    project.write_json("search_config.json", {"search_typ": "bopt"})
    cli = project.hpsearch("run", ".", check=False)
    with pytest.raises(ValueError) as error:
        hpsearch.Optimizer(project.path / "model_config.json",
                           project.path / "search_config.json")
    assert str(error.value) == cli.stderr.strip().splitlines()[-1][len("error: "):]
    assert "did you mean `search_type`" in str(error.value)

    with pytest.raises(ValueError, match=r"^search_config.json: field `bopt_config.kernel`"):
        hpsearch.Optimizer(MODEL, {"bopt_config": {"kernel": "Gauss"}})
    with pytest.raises(ValueError, match=r"^model_config.json: field `\(top level\)`"):
        hpsearch.Optimizer({"epochs": 3})
    with pytest.raises(ValueError, match="differ"):
        hpsearch.Optimizer(MODEL, {"random_seed": 1}, seed=2)
    with pytest.raises(ValueError, match="seed -1"):
        hpsearch.Optimizer(MODEL, seed=-1)


def test_defaults_seed_and_warnings():
    optimizer = hpsearch.Optimizer(MODEL)
    assert optimizer.search_type == "bopt"
    trial = optimizer.ask()
    assert optimizer.tell(trial, 100.0).loss == 2.0, "y_transformation log, as in a search"
    optimizer = hpsearch.Optimizer(MODEL)
    assert 0 <= optimizer.seed < 2 ** 32
    again = hpsearch.Optimizer(MODEL, seed=optimizer.seed)
    assert again.ask().params == optimizer.ask().params
    with pytest.warns(UserWarning, match="two values"):
        hpsearch.Optimizer({"n": {"type": "discrete", "domain": [1, 8]}})


def test_reports_are_judged_by_the_early_stopping_rule_and_pruned_trials_told():
    config = {"search_type": "random", "y_transformation": "none",
              "early_stopping": {"rule": "asha", "min_step": 1, "max_step": 9,
                                 "reduction_factor": 3, "order_check": False}}
    optimizer = hpsearch.Optimizer({"x": {"type": "continuous", "domain": [0, 1]}}, config,
                                   seed=4)
    stopped = []
    for _ in range(12):
        trial = optimizer.ask()
        assert trial.max_step == 9, "asha hands each trial its budget, as input.json does"
        for step in range(1, 10):
            # Curves that keep their order: a trial worse at rung 1 stays worse.
            value = trial["x"] + 1.0 / step
            if optimizer.report(trial, step, value):
                told = optimizer.tell(trial, "pruned")
                assert (told.state, told.step, told.value) == ("pruned", step, value)
                assert told.reason.startswith(f"stopped at step {step}: at the rung")
                stopped.append(trial.id)
                break
        else:
            optimizer.tell(trial, value)
    assert 4 <= len(stopped) <= 11, stopped
    finished = [t for t in optimizer.trials if t.state == "succeeded"]
    # Every trial that ran to the end was the best at each rung it reached.
    assert optimizer.best.params["x"] == min(t["x"] for t in finished)
    assert all(t.loss == t.value for t in optimizer.observations), "pruned: its last value"

    trial = optimizer.ask()
    with pytest.raises(ValueError, match="steps are whole numbers from 1"):
        optimizer.report(trial, 0, 1.0)
    optimizer.report(trial, 2, 1.0)
    with pytest.raises(ValueError, match="step 2 after step 2; steps must increase"):
        optimizer.report(trial, 2, 1.0)
    with pytest.raises(ValueError, match="not a finite number"):
        optimizer.report(trial, 3, float("nan"))
    fresh = optimizer.ask()
    with pytest.raises(ValueError, match="reported no intermediate result"):
        optimizer.tell(fresh, "pruned")


def test_asha_spares_trials_by_default_until_the_order_at_a_rung_held_to_the_end():
    config = {"search_type": "random", "y_transformation": "none",
              "early_stopping": {"rule": "asha", "min_step": 1, "max_step": 9,
                                 "reduction_factor": 3}}
    optimizer = hpsearch.Optimizer({"x": {"type": "continuous", "domain": [0, 1]}}, config,
                                   seed=4)

    def run(trial):
        # Crossing curves: a high x leads before step 3 and ends worst.
        for step in range(1, 10):
            value = -trial["x"] if step < 3 else trial["x"]
            if optimizer.report(trial, step, value):
                return optimizer.tell(trial, "pruned")
        return optimizer.tell(trial, value)

    told = [run(optimizer.ask()) for _ in range(10)]
    # Rung 1, whose order reverses by the end, never judges; rung 3 judges once four trials
    # have finished (its order holds), and then stops the ones worse there.
    assert [t.state for t in told[:4]] == ["succeeded"] * 4
    pruned = [t for t in told if t.state == "pruned"]
    assert pruned, [t.state for t in told]
    assert all(t.step == 3 and "rung of step 3" in t.reason for t in pruned), pruned
    with pytest.raises(ValueError, match="order_check"):
        hpsearch.Optimizer({"x": {"type": "continuous", "domain": [0, 1]}},
                           {"early_stopping": {"rule": "asha", "max_step": 9,
                                               "order_check": 1}})


def test_a_trial_that_ends_short_of_max_step_is_warned_about_once():
    # The order check (asha's default) reads only trials that reported at max_step: a loop that
    # ends early leaves every rung unjudged, and the caller is told.
    optimizer = hpsearch.Optimizer({"x": {"type": "continuous", "domain": [0, 1]}},
                                   {"search_type": "random", "y_transformation": "none",
                                    "early_stopping": {"rule": "asha", "max_step": 9}}, seed=3)

    def run():
        trial = optimizer.ask()
        for step in range(1, 4):
            assert not optimizer.report(trial, step, trial["x"] + 1.0 / step)
        return optimizer.tell(trial, trial["x"] + 1.0 / 3)

    with pytest.warns(UserWarning, match=r"short of early_stopping\.max_step \(9\)"):
        run()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run()


def test_without_a_rule_reports_never_stop_a_trial():
    optimizer = hpsearch.Optimizer({"x": {"type": "continuous", "domain": [0, 1]}},
                                   {"search_type": "random", "y_transformation": "none"}, seed=1)
    for _ in range(6):
        trial = optimizer.ask()
        assert trial.max_step is None
        assert not any(optimizer.report(trial, step, 10.0 * trial["x"] + step)
                       for step in range(1, 6))
        optimizer.tell(trial, 10.0 * trial["x"])


def test_a_conditional_space_gives_only_the_active_hyperparameters():
    space = {"optimizer": {"type": "categorical", "domain": ["sgd", "adam"]},
             "momentum": {"type": "continuous", "domain": [0, 0.99],
                          "condition": {"optimizer": ["sgd"]}},
             "beta1": {"type": "continuous", "domain": [0.8, 0.999],
                       "condition": {"optimizer": ["adam"]}},
             "layers": {"type": "integer", "domain": [1, 3]},
             "forbidden": [{"optimizer": "adam", "layers": 1}]}
    optimizer = hpsearch.Optimizer(space, {"search_type": "random", "y_transformation": "none"},
                                   seed=3)
    seen = set()
    for _ in range(40):
        trial = optimizer.ask()
        branch = trial["optimizer"]
        expected = {"optimizer", "layers", "momentum" if branch == "sgd" else "beta1"}
        assert set(trial.params) == expected, trial.params
        assert not (branch == "adam" and trial["layers"] == 1), "forbidden"
        seen.add(branch)
        optimizer.tell(trial, trial.params.get("momentum", 0.5))
    assert seen == {"sgd", "adam"}
    with pytest.raises(ValueError, match="momentum.condition.optimiser"):
        hpsearch.Optimizer({**space, "momentum": {**space["momentum"],
                                                 "condition": {"optimiser": ["sgd"]}}})
