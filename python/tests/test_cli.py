"""The `hpsearch` command the wheel installs: the hpsearch binary, every subcommand, running a
real search whose runs go through `hpsearch _wrap`."""

import json
import os
import subprocess
import sys

import pytest

from conftest import hpsearch_command

import hpsearch

SUBCOMMANDS = ["init", "launch", "run", "status", "results", "cancel", "resume", "report",
               "replicate", "test", "dashboard", "ask-tell"]

SCORE = """\
import json, os, sys
config = json.load(open(sys.argv[1]))
loss = (config["x"] - 0.25) ** 2 + 0.1 * config["n"]
json.dump({"objective": loss, "aux": 2 * loss}, open(os.path.join(config["save_folder"], "output.json"), "w"))
"""

MODEL = {"x": {"type": "continuous", "domain": [0, 1]},
         "n": {"type": "discrete", "domain": [1, 2, 3]},
         "label": "fixed"}


def test_the_package_under_test_is_the_installed_wheel():
    assert "site-packages" in hpsearch.__file__, hpsearch.__file__
    assert os.path.dirname(hpsearch_command()) == os.path.dirname(sys.executable)


def test_every_subcommand_is_there():
    help_text = subprocess.run([hpsearch_command(), "--help"], capture_output=True, text=True,
                               check=True).stdout
    for command in SUBCOMMANDS:
        assert f"\n  {command} " in help_text, (command, help_text)
    version = subprocess.run([hpsearch_command(), "--version"], capture_output=True, text=True,
                             check=True).stdout
    assert version.strip() == f"hpsearch {hpsearch.__version__}"


@pytest.mark.skipif("HPSEARCH_RUST_BINARY" not in os.environ,
                    reason="HPSEARCH_RUST_BINARY names the cargo-built binary to compare with")
def test_the_command_is_the_rust_binarys():
    for args in (["--help"], ["run", "--help"], ["ask-tell", "--help"], ["status", "/nowhere"]):
        ours = subprocess.run([hpsearch_command(), *args], capture_output=True, text=True)
        theirs = subprocess.run([os.environ["HPSEARCH_RUST_BINARY"], *args],
                                capture_output=True, text=True)
        assert (ours.returncode, ours.stdout, ours.stderr) == \
            (theirs.returncode, theirs.stdout, theirs.stderr), args


def test_a_real_search_runs_from_the_wheel(project):
    project.script("score.py", SCORE)
    project.configs("score.py", MODEL, {"search_type": "sobol", "max_suggestions": 6,
                                        "max_active_points": 2, "y_transformation": "none"})
    run = project.hpsearch("run", ".")
    assert "hp_search_0" in run.stdout + run.stderr
    snapshot = project.snapshot()
    assert snapshot["state"] == "finished", snapshot["state"]
    combinations = snapshot["combinations"]
    assert len(combinations) == 6
    for c in combinations:
        assert c["state"] == "succeeded", c
        folder = project.search_dir() / f"hp_combination_{c['id']}"
        # Every run went through `hpsearch _wrap`, which records how the script ended.
        status = json.loads((folder / ".hpsearch_status.json").read_text())
        assert status, folder
        given = json.loads((folder / "input.json").read_text())
        assert given["label"] == "fixed" and given["save_folder"] == str(folder)
        expected = (given["x"] - 0.25) ** 2 + 0.1 * given["n"]
        assert c["objective"] == pytest.approx(expected)
        assert c["metrics"] == {"aux": pytest.approx(2 * expected)}
    rows = (project.search_dir() / "hp_search_data.txt").read_text().splitlines()
    assert len(rows) == 7 and rows[0].split("\t")[-2:] == ["x", "n"]
    results = json.loads(project.hpsearch("results", "hp_search_0", "--format", "json").stdout)
    assert len(results) == 6
    status = project.hpsearch("status", "hp_search_0").stdout
    assert "6" in status


def test_python_dash_m_is_the_command_too():
    out = subprocess.run([sys.executable, "-m", "hpsearch", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == f"hpsearch {hpsearch.__version__}"
