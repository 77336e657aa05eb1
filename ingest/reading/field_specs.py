"""The ticket fields of fields.toml as plain data: key, labels, kind, and the status options
(SPEC §3). Replies and views name fields by these alone; the reader's label patterns are built
from them in field_catalog, which only reading a mail needs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ingest.reading.data_files import fields_toml


@dataclass(frozen=True)
class FieldSpec:
    key: str
    labels: tuple[str, ...]
    kind: str  # "line", "block" or "choice"
    heading: bool = False
    heading_only: bool = False  # opened by its `---label` heading only, never by `label：`

    @property
    def label(self) -> str:
        """The seed's label, as replies show it."""
        return self.labels[0]


@dataclass(frozen=True)
class FieldSpecs:
    fields: tuple[FieldSpec, ...]  # in the seed's order
    by_key: dict  # field key -> FieldSpec
    options: dict  # status option text (simplified, as replies show it) -> value


@lru_cache(maxsize=1)
def field_specs() -> FieldSpecs:
    data = fields_toml()
    fields = tuple(
        FieldSpec(
            f["key"],
            tuple(f["labels"]),
            f["kind"],
            f.get("heading", False),
            f.get("heading_only", False),
        )
        for f in data["field"]
    )
    return FieldSpecs(fields, {s.key: s for s in fields}, dict(data["status"]["options"]))
