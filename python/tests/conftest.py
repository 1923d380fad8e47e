"""Helpers for the tests of the installed hpsearch package: a temporary project, the `hpsearch`
command the wheel put on PATH, and what a search leaves on disk.

Run with the wheel installed in the interpreter that runs pytest (see .ci/run): the tests use
that interpreter as the `environment_path` of their scripts, so the scripts import the package.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

JOB = {"cluster": "local", "time": 1, "memory": 1, "processor_type": "CPU",
       "num_processors": 1, "kill_grace_seconds": 1}


def hpsearch_command() -> str:
    """The `hpsearch` of this interpreter's environment (where pip put the wheel's)."""
    found = shutil.which("hpsearch", path=os.path.dirname(sys.executable))
    assert found, f"no hpsearch beside {sys.executable}: is the wheel installed here?"
    return found


class Project:
    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    def write_json(self, name: str, value) -> Path:
        file = self.path / name
        file.write_text(json.dumps(value, indent=2))
        return file

    def script(self, name: str, text: str) -> Path:
        file = self.path / name
        file.write_text(text)
        return file

    def configs(self, script: str, model: dict, search: dict) -> None:
        self.write_json("job_config.json",
                        {"environment_path": sys.executable, "script_path": script, **JOB})
        self.write_json("model_config.json", model)
        self.write_json("search_config.json", search)

    def hpsearch(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        run = subprocess.run([hpsearch_command(), *args], cwd=self.path, capture_output=True,
                             text=True, timeout=300)
        if check:
            assert run.returncode == 0, f"hpsearch {' '.join(args)}: {run.returncode}\n" \
                                        f"{run.stdout}\n{run.stderr}"
        return run

    def search_dir(self, search_id: int = 0) -> Path:
        return self.path / f"hp_search_{search_id}"

    def snapshot(self, search_id: int = 0) -> dict:
        return json.loads((self.search_dir(search_id) / "hp_search_state.json").read_text())


@pytest.fixture
def project(tmp_path) -> Project:
    return Project(tmp_path / "proj")
