"""Packs the harness's records of a reference solver for bench/broad_results/ (committed, so
that a comparison re-runs only ours): gzipped JSON lines, with the per-evaluation timings
(ask_s, tell_s, solver_s, solver_cpu_s) kept to 3 significant digits, which the tables need and
which otherwise make up most of the size. Every other field is kept as the harness wrote it.

    python3 bench/broad_records.py RESULTS/solver.jsonl bench/broad_results/solver.jsonl.gz
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
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, destination = sys.argv[1:]
    with open(source) as f:
        lines = [json.dumps(pack(json.loads(line))) for line in f if line.strip()]
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
