"""`hpsearch.load` on a real search (with and without pandas), and the helpers for analysis
scripts (`hpsearch.script`, and the Python template that uses them) in a real search."""

import json
import subprocess
import sys

import pytest

import hpsearch

SCRIPT = """\
from hpsearch.script import read_input, report, write_output
config = read_input()
loss = None
for step in range(1, config["epochs"] + 1):
    loss = (config["x"] - 0.5) ** 2 + 1.0 / step
    report(step, loss, lr=0.1 / step)
write_output(loss, accuracy=1 - loss, epochs=config["epochs"])
"""

MODEL = {"x": {"type": "continuous", "domain": [0, 1]},
         "k": {"type": "categorical", "domain": ["a", "b"]},
         "epochs": 3}


@pytest.fixture
def searched(project):
    project.script("train.py", SCRIPT)
    project.configs("train.py", MODEL, {"search_type": "random", "max_suggestions": 4,
                                        "max_active_points": 2, "random_seed": 3,
                                        "y_transformation": "none"})
    project.hpsearch("run", ".")
    return project


def test_the_helpers_in_a_real_search(searched):
    for c in searched.snapshot()["combinations"]:
        assert c["state"] == "succeeded", c
        folder = searched.search_dir() / f"hp_combination_{c['id']}"
        progress = [json.loads(line) for line in (folder / "progress.jsonl").read_text().splitlines()]
        assert [p["step"] for p in progress] == [1, 2, 3]
        # (The search's JSON reader may round the last binary digit of what a script wrote.)
        assert progress[-1]["objective"] == pytest.approx(c["objective"], rel=1e-15)
        assert progress[0]["lr"] == pytest.approx(0.1)
        output = json.loads((folder / "output.json").read_text())
        assert output == {"objective": progress[-1]["objective"], "accuracy": pytest.approx(1 - c["objective"]), "epochs": 3}
        assert c["metrics"] == {"accuracy": pytest.approx(1 - c["objective"]), "epochs": 3}


def test_load_reads_the_snapshot_into_records(searched):
    results = hpsearch.load(searched.search_dir())
    assert isinstance(results, list) and len(results) == 4
    assert results.hyperparameters == ["x", "k"]
    assert results.search["random_seed"] == 3 and results.search["state"] == "finished"
    assert [r["id"] for r in results] == [0, 1, 2, 3]
    assert all(r["state"] == "succeeded" and set(r["params"]) == {"x", "k"} for r in results)
    same = hpsearch.load(searched.search_dir() / "hp_search_state.json")
    assert list(same) == list(results)
    with pytest.raises(FileNotFoundError, match="hp_search_N"):
        hpsearch.load(searched.path / "hp_search_7")


def test_to_pandas_with_pandas(searched):
    pandas = pytest.importorskip("pandas")
    frame = hpsearch.load(searched.search_dir()).to_pandas()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.index) == [0, 1, 2, 3]
    assert {"x", "k", "accuracy", "epochs", "state", "objective", "loss"} <= set(frame.columns)
    assert ((frame["accuracy"] - (1 - frame["objective"])).abs() < 1e-12).all()


def test_load_without_pandas(searched, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now fails
    results = hpsearch.load(searched.search_dir())
    assert len(results) == 4
    with pytest.raises(ImportError, match="pip install pandas"):
        results.to_pandas()


def test_the_python_template_uses_the_helpers_and_runs_without_them(project, tmp_path):
    project.path.parent.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "hpsearch", "init", str(project.path)], check=True,
                   capture_output=True)
    template = next(project.path.glob("*.py"))
    assert "hpsearch.script" in template.read_text()
    for name, flags in (("with", []), ("without", ["-S"])):  # -S: no site-packages, no hpsearch
        folder = tmp_path / name
        folder.mkdir()
        given = {"learning_rate": 1e-3, "num_layers": 3, "activation": "relu", "epochs": 2,
                 "save_folder": str(folder)}
        (folder / "input.json").write_text(json.dumps(given))
        run = subprocess.run([sys.executable, *flags, str(template), str(folder / "input.json")],
                             cwd=folder, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        output = json.loads((folder / "output.json").read_text())
        assert output["objective"] == pytest.approx(0.0, abs=1e-9)
        steps = [json.loads(line)["step"] for line in (folder / "progress.jsonl").read_text().splitlines()]
        assert steps == [1, 2]


def test_the_template_runs_a_search_with_the_installed_package(project):
    project.path.parent.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "hpsearch", "init", str(project.path)], check=True,
                   capture_output=True)
    job = json.loads((project.path / "job_config.json").read_text())
    job["environment_path"] = sys.executable
    project.write_json("job_config.json", job)
    project.write_json("search_config.json", {"search_type": "random", "max_suggestions": 2,
                                              "random_seed": 1})
    project.hpsearch("run", ".")
    for c in project.snapshot()["combinations"]:
        assert c["state"] == "succeeded", c
        assert "some_metric" in c["metrics"]
        folder = project.search_dir() / f"hp_combination_{c['id']}"
        assert (folder / "progress.jsonl").exists()
