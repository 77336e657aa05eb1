"""SQL belongs to the store (issue 18): no product module outside ingest/store/ imports
SQLAlchemy, SQLModel or Alembic, not even for a type hint; the store re-exports what others name."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE_LIBRARIES = {"sqlalchemy", "sqlmodel", "alembic"}


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_store_imports_the_database_libraries():
    modules = [*(ROOT / "ingest").rglob("*.py"), *(ROOT / "replies").rglob("*.py")]
    outside = [p for p in modules if (ROOT / "ingest" / "store") not in p.parents]
    assert len(outside) > 50  # the walk found the product's modules
    offenders = {
        p.relative_to(ROOT).as_posix(): sorted(_imported(p) & DATABASE_LIBRARIES)
        for p in outside
        if _imported(p) & DATABASE_LIBRARIES
    }
    assert offenders == {}
    # Positive control: the store itself does import them.
    assert _imported(ROOT / "ingest" / "store" / "db.py") & DATABASE_LIBRARIES
