"""Render the replies an operator reads (request_info, ack, resolved) from a ticket's plain data;
the one jinja2 environment of the replies and the digest."""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ingest.reading.clean_text import clean_text
from ingest.reading.display_words import span_zh
from ingest.reading.field_specs import field_specs
from ingest.reading.phones import mask_phone, mask_phones_in_text
from ingest.rules.threads import subject_tag

if TYPE_CHECKING:
    from ingest.rules.stored import TicketView

PACKAGE_TEMPLATES = str(resources.files("replies").joinpath("templates"))

# Shown on their own line, not in the field list.
_OWN_LINE = ("status", "engineer")
# Engineers' blocks (SPEC §8): internal notes, never echoed in an ack; a resolved notice
# quotes the resolution.
_ENGINEER_NOTES = ("tracking", "analysis", "resolution")
_ECHO_LIMIT = 40  # an echoed wrong value is a hint, not a copy of the operator's text

# The validators' English reasons (ingest.reading.completeness) in the operator's language.
_REASONS = {
    "not digits": "只能包含数字",
    "not a mobile, landline or masked number": "不是有效的手机号、座机号或打码号码",
}
_DIGIT_COUNT = re.compile(r"^(\d+) digits, expected (\d+)-(\d+)$")


def display_width(text: str) -> int:
    """Columns `text` takes in a monospaced mail client: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text, width: int) -> str:
    """`text` followed by spaces up to `width` columns (plain-text tables)."""
    text = str(text)
    return text + " " * max(0, width - display_width(text))


def _is_html(name: str | None) -> bool:
    return bool(name) and name.endswith((".html.j2", ".html"))


@lru_cache(maxsize=16)
def environment(template_dir: str | None = None) -> Environment:
    """Templates from `template_dir` first (a deployment's own wording), then the package's.
    The replies and the digest share it; HTML templates are autoescaped, plain text is not."""
    search = [template_dir, PACKAGE_TEMPLATES] if template_dir else [PACKAGE_TEMPLATES]
    env = Environment(
        loader=FileSystemLoader(search),
        autoescape=_is_html,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pad"] = pad
    return env


def reason_zh(key: str, reason: str | None) -> str:
    """Why a field is listed, in Chinese: absent (None) or the validator's English reason."""
    if not reason:
        return "未填写"
    reason = reason.strip()
    if reason in _REASONS:
        return _REASONS[reason]
    if m := _DIGIT_COUNT.match(reason):
        count, low, high = m.groups()
        return f"应为{low}-{high}位数字（现为{count}位）"
    return reason


def label_of(key: str) -> str:
    spec = field_specs().by_key.get(key)
    return spec.label if spec else key


def _masked(key: str, value) -> str:
    """A value safe to mail back: the phone field masked, mobiles in free text masked, and no
    control character (rows stored before values were cleaned on reading may hold some)."""
    text = clean_text(str(value))
    if key == "phone":
        return mask_phone(text)
    return mask_phones_in_text(text)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _ECHO_LIMIT else text[:_ECHO_LIMIT] + "…"


def status_zh(status: str | None) -> str:
    """The seed's option text for a status; a ticket just acknowledged is 处理中."""
    names = {value: text for text, value in field_specs().options.items()}
    return names.get(status or "", names.get("in_progress", "处理中"))


_blanks: dict[tuple, tuple[str, object]] = {}


def _blank(env: Environment, name: str) -> str:
    """A blank template verbatim (never interpreted by jinja), ending with one newline; read again
    only when its file changed, as jinja does for the templates themselves."""
    key = (tuple(env.loader.searchpath), name)
    cached = _blanks.get(key)
    if cached is None or not cached[1]():
        source, _, uptodate = env.loader.get_source(env, name)
        cached = _blanks[key] = (source.rstrip("\n") + "\n", uptodate)
    return cached[0]


def _field_rows(ticket: dict, keys: set[str]) -> list[dict]:
    """The ticket's fields among `keys`, in the seed's order, masked, for listing by label."""
    fields = ticket.get("fields") or {}
    rows = []
    for spec in field_specs().fields:
        if spec.key not in keys or spec.key not in fields:
            continue
        value = _masked(spec.key, fields[spec.key]).strip()
        if not value:
            continue
        lines = value.split("\n")
        rows.append(
            {
                "key": spec.key,
                "label": spec.label,
                "value": value,
                "lines": lines,
                "multiline": len(lines) > 1,
            }
        )
    return rows


def _problems(ticket: dict) -> list[dict]:
    """Missing and invalid fields, in the seed's order, with the reason in Chinese."""
    missing = list(ticket.get("missing") or [])
    invalid = dict(ticket.get("invalid") or {})
    fields = ticket.get("fields") or {}
    keys = set(missing) | set(invalid)
    order = [s.key for s in field_specs().fields]
    rows = []
    for key in sorted(keys, key=lambda k: order.index(k) if k in order else len(order)):
        reason = invalid.get(key)
        written = fields.get(key) if reason else None
        rows.append(
            {
                "key": key,
                "label": label_of(key),
                "reason": reason_zh(key, reason),
                "written": _short(_masked(key, written)) if written else "",
            }
        )
    return rows


def _image_rows(ticket: dict) -> list[dict]:
    """The fields read from screenshots (SPEC §14), each with its image's name, for checking."""
    sources = ticket.get("fields_from_images") or {}
    rows = _field_rows(ticket, set(sources))
    for row in rows:
        row["image"] = _short(_masked("subject", sources[row["key"]]))
    return rows


def _stop_rows(ticket: dict) -> list[dict]:
    rows = []
    for code in ticket.get("stop_codes") or []:
        meaning = clean_text(code.get("meaning") or "未知代号")
        rows.append(
            {
                "vendor": clean_text(code.get("vendor") or ""),
                "code": code.get("code"),
                "meaning": meaning,
                "known": bool(code.get("known")),
                # A brand without a table here has no meaning at all (SPEC §5): not 未知代号.
                "in_tables": bool(code.get("meaning")),
                "text": f"{code.get('code')} {meaning}",
            }
        )
    return rows


def ticket_context(ticket: TicketView, stop_codes: list[dict]) -> dict:
    """What reply templates see of a ticket, with its stop codes."""
    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "template": ticket.template,
        "fields": dict(ticket.fields),
        "missing": list(ticket.missing),
        "invalid": dict(ticket.invalid),
        "stop_codes": stop_codes,
        "status": ticket.status,
        "engineer": ticket.engineer,
    }


def context(ticket: dict, template_dir: str | None = None) -> dict:
    """What every reply template may use; nothing in it shows a phone number unmasked."""
    env = environment(template_dir)
    fields = ticket.get("fields") or {}
    missing = list(ticket.get("missing") or [])
    detailed = ticket.get("template") == "detailed" or "order_no" in missing
    engineer = ticket.get("engineer") or fields.get("engineer") or ""
    operator_keys = {s.key for s in field_specs().fields} - set(_OWN_LINE) - set(_ENGINEER_NOTES)
    return {
        "ticket_id": ticket["id"],
        "tag": subject_tag(ticket["id"]),
        "subject": _masked("subject", ticket.get("subject") or ""),
        "template": ticket.get("template") or "none",
        "fields": _field_rows(ticket, operator_keys),
        "notes": _field_rows(ticket, set(_ENGINEER_NOTES)),
        "problems": _problems(ticket),
        "stop_codes": _stop_rows(ticket),
        "status": status_zh(ticket.get("status")),
        "engineer": _masked("engineer", engineer),
        "blank_kind": "detailed" if detailed else "simple",
        "blank": _blank(env, "blank_detailed.txt" if detailed else "blank_simple.txt"),
        "tickets_in_mail": int(ticket.get("tickets_in_mail") or 1),
        "from_images": _image_rows(ticket),
    }


def render(name: str, ticket: dict, template_dir: str | None = None, **extra) -> str:
    env = environment(template_dir)
    return env.get_template(name).render(**context(ticket, template_dir), **extra)


def render_request_info(ticket: dict, template_dir: str | None = None) -> str:
    return render("request_info.txt.j2", ticket, template_dir)


def render_ack(ticket: dict, template_dir: str | None = None) -> str:
    return render("ack.txt.j2", ticket, template_dir)


def render_resolved(ticket: dict, template_dir: str | None = None) -> str:
    return render("resolved.txt.j2", ticket, template_dir)


def render_answer(
    ticket: dict, template_dir: str | None = None, *, text: str, name: str = ""
) -> str:
    """An engineer's ---答复 `text`, relayed to the operator under the engineer's `name` (never
    their address), phones masked (SPEC §13)."""
    return render(
        "answer.txt.j2",
        ticket,
        template_dir,
        answer_lines=mask_phones_in_text(text).split("\n"),
        answer_name=_masked("engineer", name),
    )


def render_not_understood(
    ticket: dict,
    template_dir: str | None = None,
    *,
    problems: list[str],
    fields: dict,
    tag_written: str = "",
    names: list[str] = (),
    mail_subject: str = "",
) -> str:
    """What an engineer's mail failed to say, and how to write it (SPEC §13)."""
    return render(
        "not_understood.txt.j2",
        ticket,
        template_dir,
        not_understood=list(problems),
        tag_written=tag_written,
        engineer_written=fields.get("engineer", ""),
        known_names="、".join(names),
        example_name=names[0] if names else "",
        mail_subject=_masked("subject", mail_subject),
    )


def render_reminder(
    ticket: dict,
    template_dir: str | None = None,
    *,
    on_hold: bool,
    waited: timedelta,
    hold_in: timedelta | None = None,
) -> str:
    """The follow-up on a ticket still waiting for the operator (SPEC §12) after `waited`: the
    reminder (`on_hold` false, `hold_in` saying when it will be put on hold) or the on-hold
    notice."""
    return render(
        "reminder.txt.j2",
        ticket,
        template_dir,
        on_hold=on_hold,
        waited=span_zh(waited),
        hold_in=span_zh(hold_in) if hold_in is not None else "",
    )


# Each reply on a ticket's thread by its kind: the template that writes it.
RENDERERS = {
    "ack": render_ack,
    "request_info": render_request_info,
    "resolved_notice": render_resolved,
    "answer": render_answer,
    "not_understood": render_not_understood,
}
