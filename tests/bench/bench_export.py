"""Benchmark: `gongdan export` memory and `gongdan status` time on large databases.

    python tests/bench/bench_export.py                 # 10,000 and 100,000 messages
    python tests/bench/bench_export.py --n 20000

For each N it fills a fresh SQLite database with N stored messages (N/4 tickets of four
messages each: three from the operator, one reply, with events, stop codes and outbox rows,
2 KB of raw bytes per message), then runs `gongdan export` and `gongdan status` as child
processes and prints their wall time and peak memory. Targets: export memory flat (peak at
100,000 within 1.2 x the peak at 10,000), status well under a second.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def fill(url: str, n_messages: int) -> None:
    from sqlalchemy import insert

    from ingest.store import db
    from ingest.store.models import (
        MailboxState,
        Message,
        Outbox,
        StopCodeHit,
        Ticket,
        TicketEvent,
    )

    db.upgrade(url)
    engine = db.open_database(url)
    now = datetime.now(UTC)  # a benchmark's own data, dated when it is made
    raw = ("运营商：星星充电\n问题描述：充不上电\n" * 40).encode("utf-8")[:2048]
    tickets = n_messages // 4
    with engine.begin() as conn:
        for start in range(0, tickets, 2000):
            ids = range(start + 1, min(tickets, start + 2000) + 1)
            conn.execute(
                insert(Ticket.__table__),
                [
                    {
                        "id": t,
                        "subject": f"故障{t}",
                        "template": "simple",
                        "status": "in_progress",
                        "operator_address": f"ops{t % 300}@xingxing.example.cn",
                        "operator": "星星充电",
                        "description": "充不上电",
                        "missing": [],
                        "invalid": {},
                        "complete": True,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for t in ids
                ],
            )
            messages, events, codes, outbox = [], [], [], []
            for t in ids:
                for k in range(4):
                    mid = f"<m{t}.{k}@xingxing.example.cn>"
                    messages.append(
                        {
                            "ticket_id": t,
                            "message_id": mid,
                            "in_reply_to": "",
                            "references": [],
                            "from_address": "ops@xingxing.example.cn",
                            "to_addresses": ["support@x.cn"],
                            "subject": f"故障{t}",
                            "date": now,
                            "text": "充不上电",
                            "raw": raw + mid.encode(),
                            "raw_sha256": hashlib.sha256(mid.encode()).hexdigest(),
                            "size": len(raw),
                            "mailbox": "support",
                            "uid": t * 4 + k,
                            "uidvalidity": 1,
                            "direction": "out" if k == 3 else "in",
                            "auto_submitted": k == 3,
                            "flags": [],
                            "received_at": now,
                        }
                    )
                events.append(
                    {"ticket_id": t, "at": now, "kind": "completed", "by": "ops", "detail": {}}
                )
                codes.append(
                    {
                        "ticket_id": t,
                        "message_db_id": None,
                        "vendor": "sinexcel",
                        "code": 34,
                        "meaning": "紧急停机",
                        "known": True,
                    }
                )
                outbox.append(
                    {
                        "ticket_id": t,
                        "kind": "ack",
                        "message_id": f"<r{t}@x.cn>",
                        "recipient": "ops",
                        "to_addresses": ["ops@xingxing.example.cn"],
                        "raw": b"x",
                        "state": "sent",
                        "attempts": 1,
                        "created_at": now,
                    }
                )
            conn.execute(insert(Message.__table__), messages)
            conn.execute(insert(TicketEvent.__table__), events)
            codes = [
                dict(c, message_db_id=c["ticket_id"] * 4 - 3) for c in codes
            ]  # the ticket's first message
            conn.execute(insert(StopCodeHit.__table__), codes)
            conn.execute(insert(Outbox.__table__), outbox)
        conn.execute(
            insert(MailboxState.__table__),
            [
                {
                    "name": "support",
                    "uidvalidity": 1,
                    "last_uid": tickets * 4,
                    "last_success_at": now,
                }
            ],
        )
    engine.dispose()


def timed_child(args: list[str], config: Path) -> tuple[float, float, int]:
    """(seconds, peak MiB, stdout lines) of one gongdan command."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    lines = sum(1 for _ in proc.stdout)
    _, _, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, lines


def measure(n: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="gd-export-") as tmp:
        url = f"sqlite:///{tmp}/g.db"
        fill(url, n)
        config = Path(tmp) / "gongdan.toml"
        config.write_text(
            f'[database]\nurl = "{url}"\n[[mailbox]]\nname = "support"\nkind = "maildir"\n'
            'path = "inbox"\n',
            "utf-8",
        )
        export_s, export_mib, lines = timed_child(["export"], config)
        status_s, _, _ = timed_child(["status", "--json"], config)
        baseline_s, _, _ = timed_child(["--help"], config)  # interpreter and imports alone
    return {
        "n": n,
        "tickets": n // 4,
        "export_s": export_s,
        "export_peak_mib": export_mib,
        "lines": lines,
        "status_s": status_s,
        "startup_s": baseline_s,
        "status_net_s": status_s - baseline_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, action="append", help="messages (repeatable; default 10000 and 100000)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [measure(n) for n in (args.n or [10_000, 100_000])]
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"gongdan export/status benchmark (Python {sys.version.split()[0]}, SQLite)")
    print(
        f"{'messages':>9} {'tickets':>8} {'export s':>9} {'export MiB':>11} {'status s':>9} "
        f"{'start-up s':>11} {'status - start-up':>18}"
    )
    for r in results:
        print(
            f"{r['n']:>9} {r['tickets']:>8} {r['export_s']:>9.2f} {r['export_peak_mib']:>11.1f} "
            f"{r['status_s']:>9.2f} {r['startup_s']:>11.2f} {r['status_net_s']:>18.2f}"
        )
    if len(results) >= 2:
        print(
            f"export peak memory at {results[-1]['n']} / at {results[0]['n']}: "
            f"{results[-1]['export_peak_mib'] / results[0]['export_peak_mib']:.2f} (target <= 1.2)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
