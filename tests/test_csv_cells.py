"""Spreadsheet cells (SPEC §6b): a CSV the product writes never hands Excel a formula to run,
while numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner

from ingest.cli.csv_cells import csv_text, safe_cell
from ingest.cli.main import cli
from ingest.store import db
from tests.test_stats import Desk, ticket_mail

HYPERLINK = '=HYPERLINK("http://evil.example/x","点这里")'
DDE = "+cmd|' /C calc'!A0"
SUM = "@SUM(1+1)*cmd|' /C calc'!A0"


@pytest.fixture
def config_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'gongdan.db'}"
    db.upgrade(url)
    engine = db.open_database(url)
    desk = Desk(engine)
    desk.store("2026-11-05T09:00", ticket_mail(1, "34", operator=HYPERLINK, station=DDE))
    desk.store("2026-11-06T09:00", ticket_mail(2, "34", operator=DDE, station=SUM))
    desk.store("2026-11-07T09:00", ticket_mail(3, "47", operator=SUM, station="-苏州站"))
    desk.store("2026-11-08T09:00", ticket_mail(4, "34", operator="星星充电", station="平湖中泰站"))
    engine.dispose()
    path = tmp_path / "gongdan.toml"
    path.write_text(f'[database]\nurl = "{url}"\n', "utf-8")
    return path


def csv_rows(config_file, by: str) -> list[dict]:
    result = CliRunner().invoke(
        cli,
        ["--config", str(config_file), "stats", "--since", "2026-11-01", "--until",
         "2026-12-01", "--by", by, "--format", "csv"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout_bytes.decode("utf-8-sig"))))


def test_formulas_in_operator_names_reach_the_csv_as_text(config_file):
    # The CSV's headers are Chinese (SPEC §13): 运营商, 新建.
    rows = {r["运营商"]: r for r in csv_rows(config_file, "operator")}
    assert {"'" + HYPERLINK, "'" + DDE, "'" + SUM} <= set(rows)
    assert not any(name.startswith(("=", "+", "-", "@")) for name in rows)
    # Positive control: an ordinary name and the counts are written as they are.
    assert rows["星星充电"]["新建"] == "1" and rows["'" + HYPERLINK]["新建"] == "1"


def test_formulas_in_station_names_reach_the_csv_as_text(config_file):
    stations = {r["桩站名称"] for r in csv_rows(config_file, "station")}
    assert stations == {"'" + DDE, "'" + SUM, "'-苏州站", "平湖中泰站"}


def test_numbers_stay_numbers_and_only_formula_starts_are_quoted():
    assert safe_cell(-3) == -3 and safe_cell(2.5) == 2.5
    assert safe_cell("-3") == "-3" and safe_cell("+86") == "+86" and safe_cell("-0.5") == "-0.5"
    assert safe_cell("-3+cmd|' /C calc'!A0") == "'-3+cmd|' /C calc'!A0"
    assert safe_cell("\tx") == "'\tx" and safe_cell("\r=1") == "'\r=1"
    assert safe_cell("星星充电") == "星星充电" and safe_cell("a=b") == "a=b"
    text = csv_text([{"name": "=1+1", "n": -7}], ["name", "n"])
    assert list(csv.reader(io.StringIO(text))) == [["name", "n"], ["'=1+1", "-7"]]
