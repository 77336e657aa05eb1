"""Render the engineers' digest of the demo to docs/digest.png (a picture for the docs; not a test).

    python docs/render_digest.py            # from the repository root, in gongdan's venv

What it does, in a temporary folder:

1. `gongdan demo --inbox demo/inbox --dir TMP`: the desk on the sample Maildir (SQLite, Maildir
   outbox);
2. `gongdan --config TMP/gongdan.toml digest --dry-run --since 24h --out TMP/digest.html`: the
   digest as mailed to the engineers, without queueing it. A ticket's creation time is when the desk
   stored it, i.e. the demo run a moment ago, not the Date of the sample mails (2026-11-24), so
   the last 24 hours hold the whole sample whatever today's date; only the period in the title
   and the 已过 column (minutes) depend on when this runs;
3. headless Chromium takes a screenshot of that HTML: once to measure the page's height, then at
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
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
        page = run / "digest.html"
        print(
            gongdan(
                "--config",
                str(run / "gongdan.toml"),
                "digest",
                "--dry-run",
                "--since",
                "24h",
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
