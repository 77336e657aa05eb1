"""Benchmark: bounded work (SPEC §9) — peak memory of a poll over large mail, time of a 状态 line.

    python tests/bench/bench_bounds.py                      # this checkout
    python tests/bench/bench_bounds.py --code /work/main    # also the same runs on another checkout
    python tests/bench/bench_bounds.py --n 10 --mib 31.5 --json

Peak memory: N (default 40) emails of about 31.5 MiB each (a ticket with a base64 photo
attachment) are written into a private Dovecot's Maildir (tests.servers.Dovecot on 127.0.0.1)
before it starts; then one `python -m ingest --config … poll --log-level WARNING` runs as a
subprocess against it (IMAP in, Maildir outbox, SQLite) and its peak RSS is read with os.wait4
(the largest of the poll and any helper it forked and reaped). The database must hold every email
afterwards. Target: < 300 MiB (main before the byte budget: 1.44 GB).

状态 line: the time of `extract_fields` on one `状态:` line of 512 KiB and of 1 MiB of marks
(`☑ 已解决 ` repeated: the shape that was quadratic), each the best of 3, in a fresh process; the
ratio 1 MiB / 512 KiB is ~2 for a linear parser and ~4 for a quadratic one. The linear baseline
is the same parser on a 1 MiB line of plain text with no mark (one regex pass). With --code, the
other checkout runs a 128 KiB line only (quadratic, 1 MiB would take minutes).

This file is a script, not a test: pytest collects only test_*.py files.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

USER = "support"
PW_ENV = "GD_BENCH_IMAP_PW"
MEMORY_TARGET_MIB = 300
KIB = 1024
MIB = 1024 * KIB


def big_mail(n: int, size: int) -> bytes:
    """A complete ticket with a base64 photo attachment, `size` bytes long, unique per `n`."""
    body = (
        "运营商：星星充电\n订单号：20261124081644614873\n问题描述：扫码后无法启动，附现场照片\n"
        "运营商初步排查结果：已重启\n停止原因：34\n"
    )
    head = (
        f"From: ops{n}@xingxing.example.cn\r\nTo: support@gongdan.example.cn\r\n"
        f"Subject: =?utf-8?b?546w5Zy654Wn54mH?= {n}\r\n"
        f"Message-ID: <bounds{n}.{secrets.token_hex(4)}@xingxing.example.cn>\r\n"
        "Date: Tue, 24 Nov 2026 08:30:00 +0800\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    photo = (
        "--b\r\nContent-Type: image/jpeg; name=photo.jpg\r\n"
        "Content-Disposition: attachment; filename=photo.jpg\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    data = head.encode() + body.replace("\n", "\r\n").encode() + b"\r\n" + photo.encode()
    line = (f"{n:08d}" + "/9j/4AAQSkZJRgABAQEASABIAAD" * 2)[:76].encode() + b"\r\n"
    end = b"--b--\r\n"
    return data + line * ((size - len(data) - len(end)) // len(line)) + end


def fill_maildir(dovecot, n: int, size: int) -> None:
    """Write the emails into the user's Maildir cur/ (Dovecot not yet running), one at a time."""
    maildir = dovecot.base / "mail" / USER / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        raw = big_mail(i, size)
        path = maildir / "cur" / f"{1_700_000_000 + i}.M{i:06d}P1.gdbounds,S={len(raw)}:2,"
        path.write_bytes(raw)
        os.chown(path, dovecot.mail_uid, dovecot.mail_gid)
    for path in [maildir, *(maildir / s for s in ("cur", "new", "tmp"))]:
        os.chown(path, dovecot.mail_uid, dovecot.mail_gid)


def write_config(work: Path, port: int) -> Path:
    config = work / "gongdan.toml"
    config.write_text(
        f"""\
[database]
url = "sqlite:///{work}/gongdan.db"

[[mailbox]]
name = "support"
kind = "imap"
host = "127.0.0.1"
port = {port}
security = "plain"
username = "{USER}"
password_env = "{PW_ENV}"
folder = "INBOX"

[outgoing]
kind = "maildir"
path = "{work}/outbox"
from_address = "support@gongdan.example.cn"
""",
        "utf-8",
    )
    return config


def run_gongdan(code: Path, config: Path, env: dict, *args: str) -> tuple[int, float, float]:
    """(exit code, peak RSS in MiB, wall seconds) of one `python -m ingest` run of `code`."""
    env = {**env, "PYTHONPATH": str(code)}
    out, err = config.parent / "gongdan.stdout", config.parent / "gongdan.stderr"
    with out.open("wb") as fo, err.open("wb") as fe:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingest", "--config", str(config), *args],
            env=env,
            cwd=code,
            stdout=fo,
            stderr=fe,
            stdin=subprocess.DEVNULL,
        )
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted: the child must not outlive the server it talks to
            proc.kill()
            proc.wait()
            raise
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
    if proc.returncode != 0:
        raise RuntimeError(
            f"gongdan {' '.join(args)} ({code}) exited {proc.returncode}:\n"
            f"{out.read_text()[-2000:]}\n{err.read_text()[-2000:]}"
        )
    return proc.returncode, usage.ru_maxrss / 1024, wall


def measure_poll(code: Path, n: int, size: int) -> dict:
    from tests.servers import Dovecot, short_tmpdir

    Dovecot.check()
    password = "pw-" + secrets.token_hex(8)
    env = {**os.environ, PW_ENV: password}
    tmp = short_tmpdir("gd-bb-")
    dovecot = None
    try:
        dovecot = Dovecot(tmp / "dc")
        dovecot.add_user(USER, password)
        t0 = time.perf_counter()
        fill_maildir(dovecot, n, size)
        dovecot.start()
        client = dovecot.client(USER)
        try:
            client.select_folder("INBOX")
            found = len(client.search("ALL"))
        finally:
            client.logout()
        if found != n:
            raise RuntimeError(f"Dovecot sees {found} messages, expected {n}")
        load_s = time.perf_counter() - t0
        work = tmp / "work"
        work.mkdir()
        config = write_config(work, dovecot.port)
        run_gongdan(code, config, env, "db", "upgrade")
        _, peak, wall = run_gongdan(code, config, env, "poll", "--log-level", "WARNING")
        con = sqlite3.connect(work / "gongdan.db")
        try:
            stored, total = con.execute(
                "SELECT count(*), coalesce(sum(length(raw)), 0) FROM message WHERE direction = 'in'"
            ).fetchone()
        finally:
            con.close()
    finally:
        if dovecot is not None:
            dovecot.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "code": str(code),
        "n": n,
        "mail_mib": size / MIB,
        "load_s": load_s,
        "poll_wall_s": wall,
        "poll_peak_mib": peak,
        "stored": stored,
        "stored_mib": total / MIB,
        "all_stored": stored == n,
    }


_STATUS_CHILD = """
import json, sys, time
from ingest.reading.fields import extract_fields
unit = "☑ 已解决 "
out = {}
for name, size in json.loads(sys.argv[1]):
    line = "状态: " + (
        unit * (size // len(unit.encode())) if name != "plain" else "平常文字" * (size // 12)
    )
    best = min((lambda t: (extract_fields(line), time.perf_counter() - t)[1])(time.perf_counter())
               for _ in range(3))
    out[name] = best
print(json.dumps(out))
"""


def measure_status(code: Path, sizes: list[tuple[str, int]]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}
    res = subprocess.run(
        [sys.executable, "-c", _STATUS_CHILD, json.dumps(sizes)],
        env=env,
        cwd=code,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="emails in the mailbox (default 40)")
    parser.add_argument("--mib", type=float, default=31.5, help="size of each email in MiB (31.5)")
    parser.add_argument(
        "--code",
        action="append",
        default=[],
        metavar="DIR",
        help="another checkout to measure the same way (e.g. /work/main)",
    )
    parser.add_argument("--skip-poll", action="store_true", help="only the 状态 line")
    parser.add_argument("--json", action="store_true", help="figures as one JSON object")
    args = parser.parse_args()
    size = int(args.mib * MIB)

    results: dict = {"status": [], "poll": []}
    for n, code in enumerate([ROOT, *map(Path, args.code)]):
        this = n == 0
        sizes = (
            [("512k", 512 * KIB), ("1m", MIB), ("plain", MIB)] if this else [("128k", 128 * KIB)]
        )
        results["status"].append({"code": str(code), **measure_status(code, sizes)})
        if not args.skip_poll:
            results["poll"].append(measure_poll(code, args.n, size))

    if args.json:
        print(json.dumps(results, ensure_ascii=False))
        return 0
    print("状态 line (`☑ 已解决 ` repeated), extract_fields, best of 3:")
    for row in results["status"]:
        parts = [f"{k}: {v * 1000:.1f} ms" for k, v in row.items() if k != "code"]
        if "1m" in row:
            parts.append(
                f"ratio 1 MiB / 512 KiB: {row['1m'] / row['512k']:.2f} (linear ~2, quadratic ~4)"
            )
            parts.append(f"1 MiB vs plain-text baseline: {row['1m'] / row['plain']:.2f}x")
        print(f"  {row['code']}: " + "; ".join(parts))
    if results["poll"]:
        print(
            f"\npoll over {args.n} emails of {args.mib} MiB"
            " (Dovecot on 127.0.0.1 -> SQLite), peak RSS:"
        )
        for row in results["poll"]:
            verdict = (
                "OK"
                if row["poll_peak_mib"] < MEMORY_TARGET_MIB
                else f"over {MEMORY_TARGET_MIB} MiB"
            )
            print(
                f"  {row['code']}: {row['poll_peak_mib']:.0f} MiB ({verdict}), "
                f"{row['poll_wall_s']:.1f} s, "
                f"stored {row['stored']}/{row['n']} ({row['stored_mib']:.0f} MiB)"
            )
    ok = all(r["all_stored"] for r in results["poll"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
