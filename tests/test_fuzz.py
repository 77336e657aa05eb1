"""Fuzzing the reader with mutations of the fixture corpus; every crash found stays a regression."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.reading.email_reader import NotAnEmail
from ingest.reading.ticket import read_ticket

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CORPUS = sorted((FIXTURES / "emails").glob("*.eml"))
CRASHES = sorted((FIXTURES / "fuzz").glob("*.eml"))


def read_or_refuse(raw: bytes) -> None:
    """The reader either gives a reading that serialises to JSON, or refuses with NotAnEmail."""
    try:
        reading = read_ticket(raw)
    except NotAnEmail:
        return
    json.dumps(reading.as_json(), ensure_ascii=False)


@pytest.mark.parametrize("path", CRASHES, ids=lambda p: p.stem)
def test_every_crash_found_so_far_stays_fixed(path):
    read_or_refuse(path.read_bytes())


@st.composite
def mutated(draw) -> bytes:
    raw = bytearray(CORPUS[draw(st.integers(0, len(CORPUS) - 1))].read_bytes())
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(
            st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate", "splice"])
        )
        at = draw(st.integers(0, max(0, len(raw) - 1)))
        if kind == "flip" and raw:
            raw[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            raw[at:at] = draw(
                st.sampled_from(
                    [
                        b"\x00",
                        b"\r\n",
                        b"=?gb2312?B?",
                        b"?=",
                        b"--",
                        b"\xff\xfe",
                        b"Content-Type: multipart/mixed; boundary=x\r\n",
                        b">",
                        b"\xe5",
                    ]
                )
            )
        elif kind == "delete":
            del raw[at : at + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del raw[at:]
        elif kind == "duplicate":
            raw[at:at] = raw[at : at + draw(st.integers(1, 200))]
        elif kind == "splice":
            other = CORPUS[draw(st.integers(0, len(CORPUS) - 1))].read_bytes()
            start = draw(st.integers(0, len(other)))
            raw[at:at] = other[start : start + draw(st.integers(1, 400))]
    return bytes(raw)


# CI runs a bounded number; `GONGDAN_FUZZ_EXAMPLES=100000 pytest tests/test_fuzz.py` fuzzes longer.
@settings(
    max_examples=int(os.environ.get("GONGDAN_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated())
def test_mutated_fixture_emails_never_crash_the_reader(raw):
    read_or_refuse(raw)
