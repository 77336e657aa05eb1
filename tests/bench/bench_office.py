"""Benchmark: reading a mail whose ticket is a .docx attachment (SPEC §3b), against the same
ticket written in the mail's text.

    python tests/bench/bench_office.py            # 200 reads of each
    python tests/bench/bench_office.py --n 1000

Prints the first read of a .docx mail in a fresh process (the zip and XML readers are imported
then, and only then), and the median and 90th percentile of later reads of each mail, with their
ratio. Target: a mail with a .docx ticket reads in under 50 ms.
This file is a script, not a test: pytest collects only test_*.py files.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ingest.reading.ticket import read_mail  # noqa: E402
from tests.conftest import make_mail  # noqa: E402
from tests.test_office_attachments import DOCX_FIELDS, mail_with, word_ticket  # noqa: E402

TEXT = "\n".join(f"{k}：{v}" for k, v in DOCX_FIELDS.items())


def timed(raw: bytes, n: int) -> list[float]:
    runs = []
    for _ in range(n):
        started = time.perf_counter()
        read_mail(raw)
        runs.append(time.perf_counter() - started)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    docx = mail_with("工单.docx", word_ticket())
    plain = make_mail(TEXT)
    read_mail(plain)  # the reader's own patterns compiled: what follows is the .docx's cost
    started = time.perf_counter()
    first = read_mail(docx).reading
    first_s = time.perf_counter() - started
    assert first is not None and first.fields, "the .docx ticket was not read"
    docx_runs, plain_runs = timed(docx, args.n), timed(plain, args.n)

    def p90(runs: list[float]) -> float:
        return statistics.quantiles(runs, n=10)[-1]

    print(f"reading a .docx ticket mail (Python {sys.version.split()[0]}), {args.n} reads each")
    print(
        f"  first .docx read in this process (its readers imported then): {first_s * 1000:.1f} ms"
    )
    print(f"  {'mail':<18} {'median ms':>10} {'p90 ms':>8}")
    for name, runs in (("ticket in text", plain_runs), (".docx attachment", docx_runs)):
        print(f"  {name:<18} {statistics.median(runs) * 1000:>10.2f} {p90(runs) * 1000:>8.2f}")
    ratio = statistics.median(docx_runs) / statistics.median(plain_runs)
    worst = max(first_s, p90(docx_runs)) * 1000
    print(f"  ratio .docx/text (median): {ratio:.2f}")
    print(f"  target: under 50 ms: {'met' if worst < 50 else 'NOT met'} ({worst:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
