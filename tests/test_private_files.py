"""Files gongdan creates are its owner's alone: 0600 files, 0700 folders (SPEC §9)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from ingest.cli.main import cli
from ingest.store import db
from tests.conftest import make_mail
from tests.desk import Desk


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask():
    """The common umask (022), under which files are world-readable unless made private."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _desk(tmp_path: Path) -> Path:
    """A Maildir desk on SQLite in `tmp_path`, its database not made yet; its config file."""
    return Desk(tmp_path, f"sqlite:///{tmp_path}/gongdan.db", upgrade=False).config


def gongdan(config: Path, *args: str):
    result = CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_new_database_its_wal_and_shm_and_locks_are_private(tmp_path):
    config = _desk(tmp_path)
    gongdan(config, "db", "upgrade")
    database = tmp_path / "gongdan.db"
    assert mode(database) == 0o600

    (tmp_path / "inbox" / "new" / "1.eml").write_bytes(
        make_mail("运营商：星星充电\n问题描述：充不上电\n")
    )
    gongdan(config, "poll")
    locks = sorted(tmp_path.glob(".gongdan.db.*.lock"))
    assert locks and all(mode(p) == 0o600 for p in locks), locks

    engine = db.open_database(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:  # an open connection keeps the -wal and -shm files
            conn.execute(text("SELECT count(*) FROM ticket")).scalar_one()
            side = [tmp_path / "gongdan.db-wal", tmp_path / "gongdan.db-shm"]
            assert all(p.exists() for p in side)
            assert [mode(p) for p in side] == [0o600, 0o600]
    finally:
        engine.dispose()


def test_an_existing_database_keeps_the_mode_its_admin_gave_it(tmp_path):
    config = _desk(tmp_path)
    database = tmp_path / "gongdan.db"
    database.touch(mode=0o640)
    os.chmod(database, 0o640)
    gongdan(config, "db", "upgrade")
    assert mode(database) == 0o640


def test_export_raw_files_and_folders_are_private(tmp_path):
    config = _desk(tmp_path)
    gongdan(config, "db", "upgrade")
    (tmp_path / "inbox" / "new" / "1.eml").write_bytes(
        make_mail("运营商：星星充电\n问题描述：充不上电\n")
    )
    unreadable = b"\x89PNG\r\n\x1a\n\x00\x00\x00"
    (tmp_path / "inbox" / "new" / "2.eml").write_bytes(unreadable)
    gongdan(config, "poll")

    kept = tmp_path / "kept"
    kept.mkdir(mode=0o755)
    target = kept / "backup" / "raw"  # two folders the export makes, inside one it does not
    gongdan(config, "export", "--raw", str(target))
    made = [kept / "backup", target, target / "1", target / "unreadable"]
    assert [oct(mode(p)) for p in made] == ["0o700"] * 4
    files = sorted(target.rglob("*.eml"))
    names = [p.relative_to(target).as_posix() for p in files]
    assert names == ["1/1.eml", "1/2.eml", "unreadable/1.eml"]
    assert all(mode(p) == 0o600 for p in files)
    assert mode(kept) == 0o755  # a folder the admin made is left as it was
    assert (target / "unreadable" / "1.eml").read_bytes().startswith(b"\x89PNG")
