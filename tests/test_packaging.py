"""What an admin installs with `pip install .` (a wheel) holds every module, template and data
file of the source tree: a package missing from the wheel crashes the installed `gongdan`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _shipped_files() -> set[str]:
    """Every file of the two packages the product runs from, as wheel paths."""
    files = set()
    for top in ("ingest", "replies"):
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                files.add(path.relative_to(ROOT).as_posix())
    return files


def test_the_wheel_holds_every_module_template_and_data_file(tmp_path):
    # Built from a copy of what git would check out, so no earlier build/ folder can fill gaps.
    source = tmp_path / "source"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for top in ("ingest", "replies"):
        shutil.copytree(ROOT / top, source / top, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("gongdan-*.whl")
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    assert "ingest/rules/decide.py" in in_wheel  # the package an explicit list once left out
    assert _shipped_files() - in_wheel == set()
