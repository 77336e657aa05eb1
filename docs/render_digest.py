"""Render the engineers' digest of the demo to docs/digest.png (a picture for the docs; not a test).

    python docs/render_digest.py            # from the repository root, in gongdan's venv

What it does, in a temporary folder, through the CLI only:

1. a desk as `gongdan demo` makes it (SQLite, a Maildir in, a Maildir outbox, the engineer 小明);
2. the demo's mails replayed at their own dates: each mail of demo/inbox and then of
   demo/conversation (and one more follow-up, from 易充科技 on #8) is put in the inbox and
   `gongdan poll --now` runs as of two minutes after its Date. So the tickets, the engineer's
   answers and the operators' follow-ups have their real times, and at NOW two tickets wait for
   the team (#3, reopened by 展鹏达; #8) — the digest's section 运营商来信待回复;
3. `gongdan digest --dry-run --since 3d --now NOW --out TMP/digest.html`: the digest as mailed to
   the engineers, without queueing it. With the fixed dates and `--now`, the picture is the same
   whenever this runs;
4. headless Chromium takes a screenshot of that HTML: once to measure the page's height, then at
   820 px wide (the 760 px mail layout and its margins) and that tall (at most MAX_HEIGHT, the
   top of the digest, so the PNG stays under 300 KB). Only Chromium is used: no Pillow, no Node.

`scripts/render-digest.sh` runs this in the repository's venv.

Needs Debian's Chromium and a Chinese font (else the text comes out as boxes); this script does
not install them:

    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        chromium fonts-noto-cjk
"""

from __future__ import annotations

import argparse
import email
import html
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ingest.cli.demo import CONFIG  # noqa: E402  (the demo's desk, from this checkout)

NOW = "2026-12-01T09:30+08:00"  # the morning after the demo's conversation
POLL_AFTER = timedelta(minutes=2)


def follow_up() -> bytes:
    """One more operator follow-up, so the section lists two tickets: 易充科技 on #8 (threaded on
    its first mail in the demo)."""
    msg = EmailMessage()
    msg["From"] = "易充科技 王工 <wanggong@yichong.example.com>"
    msg["To"], msg["Subject"] = "support@gongdan.example.cn", "Re: 充电1分钟就停 [工单#8]"
    msg["Date"] = "Mon, 30 Nov 2026 16:40:00 +0800"
    msg["Message-ID"] = "<render-digest-1@yichong.example.com>"
    msg["In-Reply-To"] = "<8C1D5F3A-2B4E-4C6A-9E8F-0A1B2C3D4E07@yichong.example.com>"
    msg.set_content("车主说检修了BMS之后还是充1分钟就停，请问下一步怎么排查？\n")
    return bytes(msg)


OUT = ROOT / "docs" / "digest.png"
WIDTH = 820
MAX_HEIGHT = 1900
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


def gongdan(*args: str, cwd: Path, quiet: bool = False) -> str:
    """`gongdan ARGS` in `cwd` (where the desk's gongdan.toml is)."""
    if not quiet:
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


def replay(run: Path) -> None:
    """The demo's desk, and its mails polled one by one, each as of just after its Date."""
    for sub in ("new", "cur", "tmp"):
        (run / "inbox" / sub).mkdir(parents=True)
    (run / "gongdan.toml").write_text(CONFIG, "utf-8")
    gongdan("db", "upgrade", cwd=run)
    files = [
        *sorted((ROOT / "demo" / "inbox" / "new").glob("[!.]*")),
        *sorted((ROOT / "demo" / "conversation" / "new").glob("[!.]*")),
    ]
    raws = [f.read_bytes() for f in files] + [follow_up()]
    for n, raw in enumerate(raws):
        date = email.message_from_bytes(raw, policy=policy.default)["Date"].datetime
        (run / "inbox" / "new" / f"{n:03d}.render").write_bytes(raw)
        gongdan("poll", "--now", (date + POLL_AFTER).isoformat(), cwd=run, quiet=True)


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
        replay(run)
        page = run / "digest.html"
        print(
            gongdan(
                "digest", "--dry-run", "--since", "3d", "--now", NOW, "--out", str(page), cwd=run
            ).strip(),
            flush=True,
        )

        height = min(page_height(binary, tmp, page), MAX_HEIGHT)
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
