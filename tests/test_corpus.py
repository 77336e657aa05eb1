"""The fixture email corpus, read through the CLI (`gongdan parse --json`, in-process; one test
runs the installed `gongdan` script as an admin does).

Each tests/fixtures/emails/NAME.eml has a NAME.expected.json written by hand from SPEC.md
(built by tests/fixtures/make_corpus.py). The expected file holds the subset of the SPEC §7
output that its email is meant to test:

- subject, template, fields (the complete dict), missing, complete, auto_submitted, action,
  attachments and from are compared exactly;
- stop_codes on {vendor, code, meaning, known} (extra keys such as a note are allowed);
- invalid on its keys, and on the reason too when the expected reason is "not digits";
- warnings only as "non-empty" when the expected list is non-empty;
- order_time: null must be null; a time is compared by its digits (any ISO-like format).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.cli.main import cli

REPO = Path(__file__).resolve().parents[1]
EMAILS = REPO / "tests" / "fixtures" / "emails"
CASES = sorted(EMAILS.glob("*.eml"))

EXACT_KEYS = (
    "subject",
    "template",
    "fields",
    "missing",
    "complete",
    "auto_submitted",
    "action",
    "attachments",
    "from",
)
STOP_CODE_KEYS = ("vendor", "code", "meaning", "known")

# A 1x1 PNG: bytes that are certainly not an email.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63640000000600020a2d1f3e0000000049454e44ae426082"
)


@dataclass
class Run:
    """What one `gongdan parse` printed and its exit code."""

    returncode: int
    stdout: bytes
    stderr: bytes


def run_parse(*paths: Path) -> Run:
    """The CLI as an admin runs it: no config, no database, no network (in this process: a
    Python start-up per file would cost the corpus more than the reading)."""
    result = CliRunner().invoke(
        cli, ["parse", "--json", *map(str, paths)], env={"GONGDAN_CONFIG": None}
    )
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout_bytes, result.stderr_bytes)


def run_script(*paths: Path) -> subprocess.CompletedProcess:
    """The installed `gongdan` console script in its own process, this checkout first."""
    env = dict(os.environ)
    env.pop("GONGDAN_CONFIG", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env["PYTHONIOENCODING"] = "utf-8"
    script = Path(sys.executable).with_name("gongdan")
    assert script.is_file(), f"no {script}: install gongdan (pip install -e '.[test]')"
    return subprocess.run(
        [str(script), "parse", "--json", *map(str, paths)],
        capture_output=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )


def json_lines(proc: Run | subprocess.CompletedProcess) -> list[dict]:
    text = proc.stdout.decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def expected_for(eml: Path) -> dict:
    return json.loads(eml.with_name(eml.stem + ".expected.json").read_text("utf-8"))


def _digits(value) -> str:
    return re.sub(r"\D", "", str(value))


def differences(expected: dict, got: dict) -> list[str]:
    """Readable mismatches between an expected subset and one parse result."""
    out = []

    def differ(key, want, have):
        out.append(
            f"{key}: expected {json.dumps(want, ensure_ascii=False)}, "
            f"got {json.dumps(have, ensure_ascii=False)}"
        )

    for key in EXACT_KEYS:
        if key in expected and got.get(key, "<absent>") != expected[key]:
            differ(key, expected[key], got.get(key, "<absent>"))

    if "stop_codes" in expected:
        have = got.get("stop_codes")
        trimmed = (
            [{k: c.get(k) for k in STOP_CODE_KEYS} for c in have]
            if isinstance(have, list)
            else have
        )
        if trimmed != expected["stop_codes"]:
            differ("stop_codes", expected["stop_codes"], have)

    if "invalid" in expected:
        have = got.get("invalid") or {}
        if sorted(have) != sorted(expected["invalid"]):
            differ("invalid (keys)", sorted(expected["invalid"]), have)
        for key, reason in expected["invalid"].items():
            if reason == "not digits" and have.get(key) != reason:
                differ(f"invalid[{key}]", reason, have.get(key))

    if expected.get("warnings") and not got.get("warnings"):
        differ("warnings (non-empty)", expected["warnings"], got.get("warnings"))

    if "order_time" in expected:
        want, have = expected["order_time"], got.get("order_time", "<absent>")
        if want is None:
            if have is not None:
                differ("order_time", None, have)
        elif have in (None, "<absent>") or _digits(have)[:14] != _digits(want)[:14]:
            differ("order_time", want, have)
    return out


def test_corpus_size_and_pairs():
    assert len(CASES) >= 45, f"only {len(CASES)} fixture emails"
    for eml in CASES:
        assert eml.with_name(eml.stem + ".expected.json").is_file(), (
            f"{eml.name} has no expected.json"
        )
    for exp in EMAILS.glob("*.expected.json"):
        assert exp.with_name(exp.name.replace(".expected.json", ".eml")).is_file(), (
            f"{exp.name}: no .eml"
        )


@pytest.mark.parametrize("eml", CASES, ids=[p.stem for p in CASES])
def test_fixture(eml: Path):
    proc = run_parse(eml)
    stderr = proc.stderr.decode("utf-8", "replace")
    results = json_lines(proc)
    assert len(results) == 1, f"expected one JSON line, got {len(results)}; stderr:\n{stderr}"
    got = results[0]
    assert "error" not in got, f"{eml.name} reported an error: {got['error']}"
    assert proc.returncode == 0, f"exit {proc.returncode}; stderr:\n{stderr}"
    problems = differences(expected_for(eml), got)
    assert not problems, f"{eml.name}:\n  " + "\n  ".join(problems)


@pytest.fixture(scope="module")
def batch() -> Run:
    """One CLI run over every fixture at once."""
    return run_parse(*CASES)


def test_all_fixtures_in_one_run(batch):
    proc = batch
    results = json_lines(proc)
    assert len(results) == len(CASES), f"{len(results)} JSON lines for {len(CASES)} files"
    by_name = {Path(r["file"]).name: r for r in results}
    assert sorted(by_name) == sorted(p.name for p in CASES)
    for eml in CASES:
        got = by_name[eml.name]
        assert "error" not in got, f"{eml.name}: {got['error']}"
        assert got["subject"] == expected_for(eml)["subject"], eml.name
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")


def test_parse_is_deterministic(batch):
    """The same files give the same output on every run (no invented names or times)."""
    again = run_parse(*CASES)
    first = {Path(r["file"]).name: r for r in json_lines(batch)}
    second = {Path(r["file"]).name: r for r in json_lines(again)}
    changed = sorted(name for name in first if first[name] != second.get(name))
    assert not changed, {name: (first[name], second.get(name)) for name in changed}


def test_not_an_email_is_reported_and_the_rest_still_parse(tmp_path: Path):
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    picture = tmp_path / "pixel.png"
    picture.write_bytes(PNG_1X1)
    first, last = CASES[0], CASES[-1]

    proc = run_script(first, empty, picture, last)
    results = json_lines(proc)
    assert len(results) == 4, proc.stdout.decode("utf-8", "replace")
    by_name = {Path(r["file"]).name: r for r in results}

    for bad in (empty, picture):
        line = by_name[bad.name]
        assert set(line) == {"file", "error"}, line
        assert isinstance(line["error"], str) and line["error"].strip()
    for good in (first, last):
        line = by_name[good.name]
        assert "error" not in line, line
        assert line["subject"] == expected_for(good)["subject"]
    assert proc.returncode != 0
