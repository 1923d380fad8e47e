"""Packs the harness's records of a reference solver for bench/broad_results/ (committed, so
that a comparison re-runs only ours): gzipped JSON lines, with the per-evaluation timings
(ask_s, tell_s, solver_s, solver_cpu_s) kept to 3 significant digits, which the tables need and
which otherwise make up most of the size. Every other field is kept as the harness wrote it.

    python3 bench/broad_records.py RESULTS/solver.jsonl bench/broad_results/solver.jsonl.gz
    # ours: the kept runs stay, the (problem, seed) pairs they lack are added
    python3 bench/broad_records.py --add RESULTS/ext_….jsonl bench/broad_results/ours/defaults.jsonl.gz
"""
import gzip
import json
import sys
import zlib

TIMINGS = ("ask_s", "tell_s", "solver_s", "solver_cpu_s")


def pack(record):
    for key in TIMINGS:
        if isinstance(record.get(key), list):
            record[key] = [float(f"{x:.3g}") for x in record[key]]
    return record


def main():
    args = sys.argv[1:]
    add = args[:1] == ["--add"]
    if add:
        args = args[1:]
    if len(args) != 2:
        sys.exit(__doc__)
    source, destination = args
    with open(source) as f:
        records = [pack(json.loads(line)) for line in f if line.strip()]
    if add:
        # Ours' kept runs are read back as they are; a run of a pair they hold is not taken.
        with gzip.open(destination, "rt") as f:
            kept = [json.loads(line) for line in f if line.strip()]
        held = {(r["problem"], r["seed"]) for r in kept}
        records = kept + [r for r in records if r.get("status") == "ok"
                          and (r["problem"], r["seed"]) not in held]
    lines = [json.dumps(record) for record in records]
    # No time stamp in the gzip header: the same records make the same file, so a comparison
    # that ran no new reference leaves the committed records untouched.
    data = ("\n".join(lines) + "\n").encode()
    # Nor is an unchanged file rewritten: another zlib may compress the same bytes otherwise.
    try:
        with gzip.open(destination, "rb") as kept:
            if kept.read() == data:
                return
    except (OSError, EOFError, zlib.error):
        pass
    with open(destination, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9,
                                                       mtime=0, filename="") as out:
        out.write(data)


if __name__ == "__main__":
    main()
