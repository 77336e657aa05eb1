"""Benchmark: how long `gongdan --help` and `gongdan parse ONE.eml` take against a bare Python
process that parses the same file with the standard library.

    python tests/bench/bench_startup.py [--runs 20] [--file tests/fixtures/emails/X.eml] [--json]

Each figure is the best of `--runs` whole processes (subprocess, wall clock), started with the
Python running this script: `python -c "import email,sys; email.message_from_bytes(...)" FILE`
as the baseline, then `python -m ingest --help` and `python -m ingest parse FILE`, run in turn so
that drift hits all three alike. The checkout this script lives in is put first on PYTHONPATH, so
it measures that code. Cron runs gongdan every minute, and every test that runs the CLI in a
subprocess pays the same start-up.

Target: each ratio to the bare process <= 4.0.
This file is a script, not a test: pytest collects only test_*.py files.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILE = ROOT / "tests" / "fixtures" / "emails" / "01_foxmail_gb2312_gbk_chars.eml"
BARE = "import email,sys; email.message_from_bytes(open(sys.argv[1],'rb').read())"


def commands(file: str) -> dict[str, list[str]]:
    return {
        "bare python -c (stdlib parse)": [sys.executable, "-c", BARE, file],
        "gongdan --help": [sys.executable, "-m", "ingest", "--help"],
        "gongdan parse FILE": [sys.executable, "-m", "ingest", "parse", file],
    }


def best_times(runs: int, file: str) -> dict[str, float]:
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    env.pop("GONGDAN_CONFIG", None)  # parse reads the defaults, as it does without a config
    best = {name: float("inf") for name in commands(file)}
    for _ in range(runs):
        for name, argv in commands(file).items():
            start = time.perf_counter()
            subprocess.run(argv, env=env, cwd=ROOT / "tests", check=True, stdout=subprocess.DEVNULL)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--file", default=str(DEFAULT_FILE))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    best = best_times(args.runs, str(Path(args.file).resolve()))
    bare = best["bare python -c (stdlib parse)"]
    if args.json:
        print(json.dumps({"best_s": best, "ratios": {k: v / bare for k, v in best.items()}}))
        return
    print(f"best of {args.runs} runs, {sys.executable} (Python {sys.version.split()[0]})")
    for name, seconds in best.items():
        print(f"{name:32} {seconds * 1000:7.1f} ms   ratio {seconds / bare:5.2f}")
    print("target: each ratio <= 4.0")


if __name__ == "__main__":
    main()
