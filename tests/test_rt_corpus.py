"""Request Tracker's test emails (real mail that broke other parsers) through `gongdan parse`.

The emails live outside the repository, in /work/shared/corpora/rt-emails (see its README.md:
GPL-2.0 data, not copied here). Every file there except README.md is an email.
"""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RT = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "rt-emails"

if not RT.is_dir():
    pytest.skip(
        f"RT email corpus not found at {RT} (it is shared data outside the repository)",
        allow_module_level=True,
    )

FILES = sorted(p for p in RT.iterdir() if p.is_file() and p.name != "README.md")


def run_parse(*paths: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("GONGDAN_CONFIG", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        [sys.executable, "-m", "ingest", "parse", "--json", *map(str, paths)],
        capture_output=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def readings() -> dict[str, dict]:
    proc = run_parse(*FILES)
    lines = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines() if line.strip()]
    assert len(lines) == len(FILES), (
        f"{len(lines)} JSON lines for {len(FILES)} files; stderr:\n"
        f"{proc.stderr.decode('utf-8', 'replace')}"
    )
    by_name = {Path(line["file"]).name: line for line in lines}
    assert sorted(by_name) == sorted(p.name for p in FILES)
    by_name["__returncode__"] = proc.returncode
    return by_name


def test_parse_is_deterministic(readings):
    again = run_parse(*FILES)
    second = {
        Path(line["file"]).name: line
        for line in map(json.loads, filter(str.strip, again.stdout.decode("utf-8").splitlines()))
    }
    changed = sorted(n for n, r in readings.items() if n != "__returncode__" and r != second.get(n))
    assert not changed, {
        n: (readings[n].get("attachments"), second[n].get("attachments")) for n in changed
    }


def test_corpus_present():
    assert len(FILES) >= 20


def test_every_file_reads_without_error(readings):
    errors = {
        name: r["error"]
        for name, r in readings.items()
        if name != "__returncode__" and "error" in r
    }
    assert not errors, errors
    assert readings["__returncode__"] == 0


@pytest.mark.parametrize(
    "name, subject",
    [
        ("new-ticket-from-gb18030", "测试"),
        ("subject-with-folding-ws", "test"),
        ("russian-subject-no-content-type", "тест тест"),
    ],
)
def test_subjects(readings, name, subject):
    assert readings[name]["subject"] == subject


def test_very_long_subject_is_kept_whole(readings):
    # RT asserts the first 200 characters ("0123456789" * 20) because its database column
    # truncates there; the header itself is "0123456789" * 30, and `parse` reports the subject
    # as the message has it (SPEC §7), so both hold.
    subject = readings["very-long-subject"]["subject"]
    assert subject[:200] == "0123456789" * 20
    assert subject == "0123456789" * 30


def test_rfc2231_filename_continuations(readings):
    assert (
        "新しいテキスト ドキュメント.txt"
        in readings["rfc2231-attachment-filename-continuations"]["attachments"]
    )


def test_bounce_is_automatic(readings):
    reading = readings["multipart-report"]
    assert reading["auto_submitted"] is True
    assert reading["action"] == "none"


def test_crashes_file_based_parser(readings):
    # RT counts five attachment records: every MIME entity, the multipart/mixed container
    # included (two inline text/plain, one inline text/html, one image/jpeg). gongdan's
    # `attachments` lists file names, so the one named file must be there, and the two body
    # parts that carry a blank `name=" "` must not turn into nameless attachments.
    raw = (RT / "crashes-file-based-parser").read_bytes()
    assert len(list(email.message_from_bytes(raw).walk())) == 5
    names = readings["crashes-file-based-parser"]["attachments"]
    assert "BackGrnd.jpg" in names
    assert all(n.strip() for n in names), names
