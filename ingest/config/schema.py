"""The config file's schema: the settings dataclasses, checked strictly (no unknown keys, no type
coercion) by walking their type hints, and the problems said in the admin's words. Plain Python:
cron's every-minute `gongdan poll` loads no validation library for it (issue 22)."""

from __future__ import annotations

import functools
import typing
from dataclasses import MISSING, fields, is_dataclass
from typing import Literal

from ingest.config.settings import ConfigFile


def schema_keys(cls=ConfigFile, prefix: str = "") -> list[str]:
    """Every key a file may hold, as `table.key` (for the documentation test)."""
    keys = []
    for f in _settable(cls):
        hint = _item(_hints(cls)[f.name])
        if is_dataclass(hint):
            keys += schema_keys(hint, f"{f.name}.")
        else:
            keys.append(prefix + f.name)
    return keys


def validate(data: dict) -> tuple[str, ConfigFile | None]:
    """The first problem of the file as one line naming its key ("" if none), and the file."""
    problems: list[dict] = []
    values = _check_table(ConfigFile, data, (), problems)
    if problems:
        others = len(problems) - 1
        more = f" (and {others} more problem{'s' * (others > 1)})" if others else ""
        return _describe(problems[0]) + more, None
    return "", _build(ConfigFile, values)


def _check_table(cls, data, loc: tuple, problems: list[dict]) -> dict:
    """The keys of the table `data` that the dataclass `cls` has, each checked against its type;
    every problem is added to `problems` as {loc, type, input}: first the table's keys in the
    dataclass's order, then the keys it does not know."""
    if not isinstance(data, dict):
        problems.append({"loc": loc, "type": "table_type", "input": data})
        return {}
    values = {}
    settable = _settable(cls)
    for f in settable:
        where = (*loc, f.name)
        if f.name in data:
            values[f.name] = _check_value(
                _hints(cls)[f.name], f.metadata, data[f.name], where, problems
            )
        elif f.default is MISSING and f.default_factory is MISSING:
            problems.append({"loc": where, "type": "missing", "input": data})
    known = {f.name for f in settable}
    problems += [
        {"loc": (*loc, key), "type": "extra_forbidden", "input": value}
        for key, value in data.items()
        if key not in known
    ]
    return values


def _check_value(hint, limits: dict, value, loc: tuple, problems: list[dict]):
    """`value` as the file's key of type `hint` holds it (an int for a float becomes a float)."""
    if is_dataclass(hint):
        return _check_table(hint, value, loc, problems)
    if typing.get_origin(hint) is list:
        if type(value) is not list:
            problems.append({"loc": loc, "type": "list_type", "input": value})
            return value
        return [_check_value(_item(hint), {}, v, (*loc, n), problems) for n, v in enumerate(value)]
    if typing.get_origin(hint) is Literal:
        if not any(
            type(value) is type(choice) and value == choice for choice in typing.get_args(hint)
        ):
            problems.append({"loc": loc, "type": "literal_error", "input": value})
        return value
    # A TOML value is exactly a str, int, float, bool, date or time, list or dict.
    if type(value) is not hint and not (hint is float and type(value) is int):
        problems.append({"loc": loc, "type": f"{hint.__name__}_type", "input": value})
    elif not _within(value, limits):
        problems.append({"loc": loc, "type": "out_of_range", "input": value})
    return float(value) if hint is float and type(value) is int else value


def _within(value, limits: dict) -> bool:
    return (
        ("ge" not in limits or value >= limits["ge"])
        and ("le" not in limits or value <= limits["le"])
        and ("gt" not in limits or value > limits["gt"])
    )


def _build(cls, values: dict):
    """The dataclass `cls` from the keys the file set; the others keep their defaults."""
    kwargs = {}
    for name, value in values.items():
        hint = _hints(cls)[name]
        inner = _item(hint)
        if is_dataclass(hint):
            value = _build(hint, value)
        elif is_dataclass(inner):
            value = [_build(inner, v) for v in value]
        kwargs[name] = value
    return cls(**kwargs)


@functools.cache
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _settable(cls) -> list:
    return [f for f in fields(cls) if not f.metadata.get("derived")]


def _item(hint):
    return typing.get_args(hint)[0] if typing.get_origin(hint) is list else hint


def _describe(error: dict) -> str:
    """One problem as the admin reads it: where, which key, what it must be."""
    loc, kind = error["loc"], error["type"]
    head, key, cls, hint, meta = _locate(loc)
    name = key or ""
    if kind == "extra_forbidden":
        return _unknown(head, name, cls, error["input"])
    if kind == "missing":
        return f"{head}: {name} is required"
    value = error["input"]
    if not name and typing.get_origin(hint) is list and isinstance(value, dict):
        return f"{head} must be a list of tables: write {head}, not {head[1:-1]}"
    wrong = "" if "password" in name or name == "url" else f", not {shown(value)}"
    what = f"{head}: {name}" if name else head
    return f"{what} must be {_expected(hint, meta)}{wrong}"


def _locate(loc: tuple):
    """(where, key, table class, hint, limits) for a problem's location."""
    cls, head, key, hint, meta = ConfigFile, "", None, ConfigFile, {}
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if isinstance(part, int):
            if is_dataclass(_item(hint)) and not key:
                head += f" #{part + 1}"
                hint = _item(hint)
            else:
                key = f"{key} item {part + 1}"
                hint, meta = _item(hint), {}
            continue
        if cls is ConfigFile and not head:
            table = _hints(ConfigFile).get(part)
            if table is None:  # an unknown table or key at the top of the file
                return "", part, ConfigFile, None, {}
            head = f"[[{part}]]" if typing.get_origin(table) is list else f"[{part}]"
            cls = _item(table)
            hint = table
            continue
        if part not in _hints(cls):
            return head, part, cls, None, {}
        f = next(f for f in fields(cls) if f.name == part)
        key, hint, meta = part, _hints(cls)[part], dict(f.metadata)
    return head, key, cls, hint, meta


def _unknown(head: str, name: str, cls, value) -> str:
    if name == "password":
        return f"{head}: inline `password` is not allowed; use password_env or password_file"
    known = [f.name for f in _settable(cls)]
    import difflib  # a wrong config only: a poll's good one needs none

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else f"; known: {', '.join(known)}"
    if not head and isinstance(value, (dict, list)):
        return f"unknown table [{name}]{hint}"
    if not head:
        return f"unknown key {name}{hint}"
    return f"{head}: unknown key {name}{hint}"


def _expected(hint, meta: dict) -> str:
    """What a value of this type must be, in the admin's words."""
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(f'"{a}"' for a in typing.get_args(hint))
    if typing.get_origin(hint) is list:
        inner = _item(hint)
        if is_dataclass(inner):
            return "a list of tables"
        return 'a list such as ["…", "…"]' if inner is str else f"a list of {_expected(inner, {})}"
    if is_dataclass(hint):
        return "a table"
    words = {
        bool: "true or false",
        int: "a whole number",
        float: "a number",
        str: 'text in quotes ("…")',
    }
    text = words.get(hint, getattr(hint, "__name__", str(hint)))
    if "ge" in meta and "le" in meta:
        text += f" from {meta['ge']} to {meta['le']}"
    elif "ge" in meta:
        text += f", {meta['ge']} or more"
    elif "gt" in meta:
        text += f" greater than {meta['gt']}"
    return text


def shown(value) -> str:
    """A wrong value, short, as TOML writes it (never called for passwords or URLs)."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, bool):
        return str(value).lower()
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"
