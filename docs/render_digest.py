"""Render the engineers' digest of the demo to docs/digest.png (a picture for the docs; not a test).

    python docs/render_digest.py            # from the repository root, in gongdan's venv

What it does, in a temporary folder:

1. `gongdan demo --inbox demo/inbox --dir TMP`: the desk on the sample Maildir (SQLite, Maildir
   outbox);
2. some history, so the digest has something to say: `gongdan import` of three more tickets on
   one pile (a repeat fault) and of the engineer's replies to five tickets; then the stored times
   are moved onto a fixed two-week timeline (tickets opened hours to days before NOW, engineers
   answering hours after), since the desk stamps everything with the moment it stored it;
3. `gongdan --config TMP/gongdan.toml digest --dry-run --since 24h --now NOW --out
   TMP/digest.html`: the digest as mailed to the engineers, without queueing it. With the fixed
   timeline and `--now`, the picture is the same whenever this runs;
4. headless Chromium takes a screenshot of that HTML: once to measure the page's height, then at
   820 px wide (the 760 px mail layout and its margins) and exactly that tall, so the PNG has
   no empty bottom. Only Chromium is used: no Pillow, no Node.

Needs Debian's Chromium and a Chinese font (else the text comes out as boxes); this script does
not install them:

    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        chromium fonts-noto-cjk
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
ENGINEER = "xiaoming@gongdan.example.cn"
# Demo ticket -> (hours before NOW it was opened, hours until the engineer answered or None).
TIMELINE = {
    1: (200, 3), 2: (60, None), 3: (30, 2), 4: (27, None), 5: (20, 1), 6: (40, None),
    7: (150, 30), 8: (18, 6), 9: (90, None), 10: (8, None), 11: (4, None),
    12: (110, 5), 13: (22, 9), 14: (12, None),
}  # fmt: skip
REPEAT = (
    "运营商：展鹏达\n桩站名称：平湖中泰站\n订单号：2026112{n}0816446148{n}3\n"
    "充电桩号：35010400080000200015\n问题描述：充电中途停止，停止原因：34\n"
    "运营商初步排查结果：急停按钮已复位，仍反复出现\n"
)
ANSWER = (
    "---跟踪\n已联系运营商远程重启，观察中。\n\n状态(☑表示选定 ): 已解决 | ☑ 处理中 | 暂搁置\n\n"
    "售后(跟单)工程师: 小明\n"
)
OUT = ROOT / "docs" / "digest.png"
WIDTH = 820
INSTALL = (
    "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends"
    " chromium fonts-noto-cjk"
)
# As the machine notes say: no sandbox as root, and no background connections (the network is
# closed).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--default-background-color=f3f4f6ff",
]
# Written into a copy of the digest to read the laid-out height back from --dump-dom.
MEASURE = (
    "<script>addEventListener('load', () => { document.title = 'height=' + "
    "Math.ceil(document.documentElement.getBoundingClientRect().height); });</script>"
)


def find_chromium() -> str:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit(
        f"render_digest: Chromium not found (/usr/bin/chromium). Install it with:\n  {INSTALL}"
    )


def check_cjk_font() -> None:
    fc_list = shutil.which("fc-list")
    found = (
        subprocess.run([fc_list, ":lang=zh", "family"], capture_output=True, text=True).stdout
        if fc_list
        else ""
    )
    if not found.strip():
        sys.exit(
            "render_digest: no Chinese font (the digest would show boxes)."
            f" Install one with:\n  {INSTALL}"
        )


def gongdan(*args: str, cwd: Path) -> str:
    print("$ gongdan " + " ".join(args), flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "ingest", *args], cwd=cwd, capture_output=True, text=True
    )
    if result.returncode:
        sys.exit(f"render_digest: gongdan {args[0]} failed:\n{result.stderr or result.stdout}")
    return result.stdout


def chromium(binary: str, profile: Path, *args: str) -> str:
    result = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode:
        sys.exit(f"render_digest: Chromium failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return result.stdout


def mail(sender: str, subject: str, text: str, number: int) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "support@gongdan.example.cn", subject
    msg["Message-ID"] = f"<history-{number}@render-digest.example.cn>"
    msg.set_content(text)
    return bytes(msg)


def stamp(value: datetime) -> str:
    """A time as SQLAlchemy keeps it in SQLite (naive UTC)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def add_history(run: Path) -> None:
    """Three more tickets on one pile, the engineer's answers, and the fixed timeline."""
    config = str(run / "gongdan.toml")
    mails = run / "history"
    mails.mkdir()
    for n in range(3):
        body = REPEAT.format(n=n + 5)
        (mails / f"repeat{n}.eml").write_bytes(
            mail("ops@zhanpengda.example.cn", "平湖中泰站 35010400080000200015 又急停", body, n)
        )
    gongdan("--config", config, "import", str(mails), cwd=run)
    answered = [t for t, (_, after) in TIMELINE.items() if after and t not in (1, 7)]
    for t in answered:  # 1 and 7: the sample already holds the engineer's mail
        (mails / f"answer{t}.eml").write_bytes(mail(ENGINEER, f"[工单#{t}] 回复", ANSWER, 100 + t))
    gongdan("--config", config, "import", str(mails), cwd=run)
    with sqlite3.connect(run / "gongdan.db") as db:
        for ticket, (opened, after) in TIMELINE.items():
            created = NOW - timedelta(hours=opened)
            db.execute(
                "UPDATE ticket SET created_at = ?, updated_at = ? WHERE id = ?",
                (stamp(created), stamp(created), ticket),
            )
            db.execute(
                "UPDATE message SET received_at = ? WHERE ticket_id = ?",
                (stamp(created), ticket),
            )
            db.execute(
                "UPDATE ticketevent SET at = ? WHERE ticket_id = ?", (stamp(created), ticket)
            )
            if after:
                answered_at = stamp(created + timedelta(hours=after))
                db.execute(
                    "UPDATE message SET received_at = ? WHERE ticket_id = ? AND from_address = ?",
                    (answered_at, ticket, ENGINEER),
                )
                db.execute(
                    "UPDATE ticketevent SET at = ? WHERE ticket_id = ? AND by = ?",
                    (answered_at, ticket, ENGINEER),
                )


def page_height(binary: str, tmp: Path, page: Path) -> int:
    probe = tmp / "measure.html"
    probe.write_text(page.read_text("utf-8").replace("</body>", MEASURE + "</body>", 1), "utf-8")
    dom = chromium(
        binary,
        tmp / "profile-measure",
        f"--window-size={WIDTH},600",
        "--virtual-time-budget=3000",
        "--dump-dom",
        probe.as_uri(),
    )
    match = re.search(r"<title>height=(\d+)</title>", dom)
    if not match:
        title = re.search(r"<title>(.*?)</title>", dom, re.S)
        sys.exit(
            "render_digest: could not measure the page"
            f" (title {html.unescape(title[1]) if title else None!r})"
        )
    return int(match[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=OUT, help=f"the PNG to write (default {OUT.relative_to(ROOT)})"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder and say where it is"
    )
    args = parser.parse_args()

    binary = find_chromium()
    check_cjk_font()
    tmp = Path(tempfile.mkdtemp(prefix="gongdan-digest-"))
    try:
        run = tmp / "run"
        demo = gongdan("demo", "--inbox", str(ROOT / "demo" / "inbox"), "--dir", str(run), cwd=tmp)
        print("\n".join(demo.splitlines()[:2]), flush=True)  # the mailbox counts and the outbox
        add_history(run)
        page = run / "digest.html"
        print(
            gongdan(
                "--config",
                str(run / "gongdan.toml"),
                "digest",
                "--dry-run",
                "--since",
                "24h",
                "--now",
                NOW.isoformat(),
                "--out",
                str(page),
                cwd=run,
            ).strip(),
            flush=True,
        )

        height = page_height(binary, tmp, page)
        shot = tmp / "digest.png"
        print(
            f"$ chromium --headless --window-size={WIDTH},{height} --screenshot {page.name}",
            flush=True,
        )
        chromium(
            binary,
            tmp / "profile-shot",
            f"--window-size={WIDTH},{height}",
            "--virtual-time-budget=3000",
            f"--screenshot={shot}",
            page.as_uri(),
        )
        if not shot.exists():
            sys.exit("render_digest: Chromium wrote no screenshot")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, args.out)
        print(f"wrote {args.out} ({WIDTH}x{height} px, {args.out.stat().st_size / 1024:.0f} KiB)")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
