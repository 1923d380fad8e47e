"""``load``: a search's results from its snapshot ``hp_search_state.json``, which the
coordinator publishes atomically after every change; the SQLite store is never opened."""

import json
import os
from typing import Any, Dict, List, Union

SNAPSHOT = "hp_search_state.json"


class Results(list):
    """The combinations of a search, one dict per combination as the snapshot has them (``id``,
    ``state``, ``search_type``, ``params``, ``objective``, ``loss``, ``failure_kind``,
    ``failure_reason``, ``metrics``, times, ...). ``search`` holds the rest of the snapshot
    (``search_id``, ``state``, ``random_seed``, ``summary``, ...)."""

    def __init__(self, snapshot: Dict[str, Any]):
        super().__init__(snapshot.get("combinations") or [])
        self.search = {k: v for k, v in snapshot.items() if k != "combinations"}

    @property
    def hyperparameters(self) -> List[str]:
        return list(self.search.get("hyperparameters") or [])

    def to_pandas(self):
        """A DataFrame indexed by combination id: the combination's fields, one column per
        hyperparameter and per metric (prefixed ``param_`` / ``metric_`` where a name is
        taken). Needs pandas."""
        try:
            import pandas
        except ImportError as error:
            raise ImportError("Results.to_pandas needs pandas: pip install pandas") from error
        rows = []
        for combination in self:
            row = {k: v for k, v in combination.items() if k not in ("params", "metrics", "point")}
            for prefix, key in (("param_", "params"), ("metric_", "metrics")):
                for name, value in (combination.get(key) or {}).items():
                    row[prefix + name if name in row else name] = value
            rows.append(row)
        frame = pandas.DataFrame(rows)
        return frame.set_index("id") if "id" in frame.columns else frame


def load(search_folder: Union[str, "os.PathLike[str]"]) -> Results:
    """The results of a search: ``search_folder`` is ``PROJECT/hp_search_N`` (or its
    ``hp_search_state.json``). Works on a running search too."""
    path = os.fspath(search_folder)
    if os.path.isdir(path):
        path = os.path.join(path, SNAPSHOT)
    try:
        with open(path, encoding="utf-8") as f:
            snapshot = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: no such file; name a search folder (PROJECT/hp_search_N) whose "
            "coordinator has started") from None
    return Results(snapshot)
