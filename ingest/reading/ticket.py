"""Read one raw email as a ticket: fields, completeness and stop codes."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.reading import quoted_template, quoting
from ingest.reading.autoreply import auto_reason
from ingest.reading.bounces import Bounce, read_bounce
from ingest.reading.completeness import Completeness, assess
from ingest.reading.email_reader import TOO_MANY_PARTS, Email, NotAnEmail, read_email
from ingest.reading.fields import catalog, extract_fields, merge_target, read_fields
from ingest.reading.html_text import UNIT_END
from ingest.reading.limits import TooSlow, time_limit
from ingest.reading.screenshots import IMAGE_KEYS, read_images
from ingest.reading.settings import ReadingSettings
from ingest.reading.stopcodes import stop_codes_in


@dataclass
class TicketReading:
    mail: Email
    fields: dict[str, str]
    assessment: Completeness
    stop_codes: list[dict]
    auto_reason: str | None
    limits_hit: list[str] = field(default_factory=list)  # too_large, too_many_parts, text_truncated
    bounce: Bounce | None = None  # what a delivery failure report says (SPEC §6a)
    # Labels and headings of the new text that gave no value (an unmarked 状态, an empty 答复).
    unread: list[str] = field(default_factory=list)
    merge_into: int | None = None  # the ticket a `合并到：工单#M` line names (SPEC §13)
    tickets: int = 1  # how many tickets the new text seems to hold; the first is read (SPEC §3b)
    fields_from_images: dict[str, str] = field(default_factory=dict)  # key -> file name (§14)

    @property
    def auto_submitted(self) -> bool:
        return self.auto_reason is not None

    def as_json(self) -> dict:
        a = self.assessment
        return {
            "message_id": self.mail.message_id,
            "from": self.mail.from_address,
            "subject": self.mail.subject,
            "template": a.template,
            "fields": self.fields,
            "order_time": a.order_time.isoformat() if a.order_time else None,
            "missing": a.missing,
            "invalid": a.invalid,
            "warnings": a.warnings + [f"limit: {name}" for name in self.limits_hit],
            "complete": a.complete,
            "stop_codes": self.stop_codes,
            "auto_submitted": self.auto_submitted,
            "attachments": self.mail.attachments,
            "fields_from_images": self.fields_from_images,
        }


def read_ticket(raw: bytes, desk: ReadingSettings | None = None) -> TicketReading:
    """Read `raw` as a ticket, within the desk's limits.

    Raises email_reader.NotAnEmail for bytes that are no email, limits.TooSlow past the time limit.
    """
    desk = desk or ReadingSettings()
    hit = []
    if len(raw) > desk.max_message_bytes:
        # Read the headers and the start; the whole message is still what gets stored.
        raw = raw[: min(desk.max_message_bytes, 1024 * 1024)]
        raw = raw[: raw.rfind(b"\n") + 1] or raw  # end on a whole line
        hit.append("too_large")
    with time_limit(desk.seconds_per_message):
        mail = read_email(raw, desk.max_parts)
        if TOO_MANY_PARTS in mail.attachments:
            mail.attachments.remove(TOO_MANY_PARTS)
            hit.append("too_many_parts")
        if len(mail.body) > desk.max_text_chars:
            mail.body = mail.body[: desk.max_text_chars]
            # Each UNIT_END line adds two characters to the units' text.
            extra = 2 * mail.units.count(UNIT_END)
            mail.units = mail.units[: desk.max_text_chars + extra]
            hit.append("text_truncated")
        reading = reading_of(mail, desk)
    reading.limits_hit = hit
    return reading


def reading_of(mail: Email, desk: ReadingSettings) -> TicketReading:
    # A bounce's copy of the returned mail (often our own reply) is never read (SPEC §6a).
    bounce = read_bounce(mail)
    body = quoting.split_body(bounce.own_text if bounce else mail.units or mail.body)
    attached = [] if bounce else mail.attached_messages
    forward = quoting.is_forward(mail.subject) and not bounce
    first = read_fields(body.new_text)
    fields, unread = first.fields, first.unread
    typed = {} if bounce else quoted_template.typed_values(body.history)
    for key, value in typed.items():
        fields.setdefault(key, value)  # the new text wins (SPEC §3b)
    history = body.history + attached
    if history and (
        forward or not quoting.is_reply(mail.subject, mail.in_reply_to, mail.references)
    ):
        for segment in history:
            for key, value in extract_fields(segment).items():
                fields.setdefault(key, value)
    from_file = _attached_ticket(mail, desk) if not fields and not bounce else None
    if from_file and from_file.text:
        fields = extract_fields(from_file.text)
    automatic = auto_reason(mail, tuple(desk.own_addresses)) or (bounce and "bounce")
    images = None if bounce or automatic else _screenshots(mail, fields, desk)
    if images:
        fields = {**images.fields, **fields}  # values from pictures fill only what text lacks
    # Keep the keys in the order of the SPEC's table, whichever part of the mail they came from.
    order = list(catalog().by_key)
    fields = {k: fields[k] for k in order if k in fields}

    forwarded = [body.forwarded, *attached] if forward else []
    typed_text = [*typed.values(), from_file.text if from_file else ""]
    typed_text.append(images.text if images else "")
    code_text = "\n".join([mail.subject, body.new_text, *forwarded, *typed_text])
    stop_codes = (
        []
        if bounce
        else stop_codes_in(
            code_text,
            desk.default_vendor,
            desk.stopcode_dir or None,
            description=fields.get("description", ""),
        )
    )
    assessment = assess(fields, mail.subject, desk.rules, tickets=first.tickets)
    assessment.warnings += from_file.warnings if from_file else []
    assessment.warnings += images.warnings if images else []
    return TicketReading(
        mail=mail,
        fields=fields,
        assessment=assessment,
        stop_codes=stop_codes,
        auto_reason=automatic,
        bounce=bounce,
        unread=[k for k in catalog().by_key if k in unread],
        merge_into=None if bounce else merge_target(body.new_text),
        tickets=first.tickets,
        fields_from_images={k: images.sources[k] for k in fields if images and k in images.sources},
    )


def _attached_ticket(mail: Email, desk: ReadingSettings):
    """A .docx/.xlsx attachment read as the ticket (SPEC §3b), when the text holds none."""
    if not mail.office_parts:
        return None
    # Imported only for such a mail: the zip and XML readers are not needed for most.
    from ingest.reading.office import attached_ticket

    files = [(name, part.get_payload(decode=True) or b"") for name, part in mail.office_parts]
    return attached_ticket(files, desk.max_text_chars)


def _screenshots(mail: Email, fields: dict[str, str], desk: ReadingSettings):
    """The mail's images read (SPEC §14), when its text and documents leave fields missing."""
    if not mail.image_parts:
        return None
    missing = set(assess(fields, mail.subject, desk.rules).missing)
    wanted = (missing | set(IMAGE_KEYS)) - set(fields)
    if not missing or not wanted:
        return None
    images = []
    for name, part in mail.image_parts:
        try:
            images.append((name, part.get_payload(decode=True) or b""))
        except Exception:  # a broken transfer encoding loses this image only
            continue
    return read_images(images, wanted, desk.seconds_per_image)


@dataclass(frozen=True)
class ReadResult:
    """An email as read: its ticket reading, or why it cannot be read."""

    reading: TicketReading | None
    error: str = ""


def read_mail(raw: bytes, desk: ReadingSettings | None = None) -> ReadResult:
    """The ticket reading of `raw`, or why it cannot be read: never raises on bad mail."""
    try:
        return ReadResult(read_ticket(raw, desk))
    except (NotAnEmail, TooSlow) as exc:
        return ReadResult(None, str(exc))
    except Exception as exc:  # a bug of ours on odd mail must not lose the mail
        return ReadResult(None, f"{type(exc).__name__}: {exc}")
