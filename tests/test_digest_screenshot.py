"""The HTML digest as a browser draws it: headless Chromium renders the digest with repeat
faults, response times and reply links into a picture that is produced and not blank."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib

import pytest

from replies.digest import render
from tests.test_digest_insight import SUPPORT, data_of, history  # noqa: F401 (fixture)

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, the decompressed scanlines) of a PNG, read with the standard library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, at = [], 8
    while at < len(data):
        (size,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        if kind == b"IDAT":
            chunks.append(data[at + 8 : at + 8 + size])
        at += 12 + size
    return width, height, zlib.decompress(b"".join(chunks))


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium not found: install it with scripts/install-test-servers.sh "
    "(apt-get install chromium fonts-noto-cjk)",
)
def test_chromium_draws_the_digest(engine, history, tmp_path):  # noqa: F811
    _, _, html = render(data_of(engine), support_address=SUPPORT)
    assert 'data-table="repeats"' in html and "mailto:" in html
    page, shot = tmp_path / "digest.html", tmp_path / "digest.png"
    page.write_text(html, "utf-8")
    subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=820,2000",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    data = shot.read_bytes()
    width, height, pixels = png_pixels(data)
    assert (width, height) == (820, 2000)
    # A blank page compresses to almost nothing and holds a handful of byte values.
    assert len(data) > 50_000 and len(set(pixels)) > 100
