"""The fault suite in short mode (tests/faults.py): real Dovecot, aiosmtpd, PostgreSQL on loopback.

Every scenario must end with nothing lost, nothing stored twice, no two different replies to one
email and no reply lost (the same reply twice after an interrupted hand-over is allowed: at least
once, SPEC §9). The seed is random per
session and printed on failure; replay with GONGDAN_FAULTS_SEED=N, or the full mode with
`python tests/bench/faults.py --seed N --only SCENARIO`.
"""

from __future__ import annotations

import os
import random

import pytest

from tests import faults

SEED = int(os.environ.get("GONGDAN_FAULTS_SEED") or random.SystemRandom().randrange(1, 10**6))


@pytest.fixture
def servers(dovecot, postgres, smtp_sink):
    return faults.Servers(dovecot, postgres, smtp_sink)


@pytest.mark.parametrize("scenario", list(faults.SCENARIOS))
def test_fault_scenario_loses_and_doubles_nothing(scenario, servers, tmp_path):
    row = faults.run_scenario(scenario, servers, tmp_path, "short", SEED)
    said = f"seed {SEED} (GONGDAN_FAULTS_SEED={SEED}):\n" + faults.format_table([row])
    print(said)
    assert row["messages"] > 0, said
    assert {k: row[k] for k in faults.COUNTED} == dict.fromkeys(faults.COUNTED, 0), said
    assert "NOT SETTLED" not in row["notes"], said
