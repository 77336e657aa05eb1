"""The `gongdan` command line: thin commands that call the library and turn errors into one line."""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from ingest.cli.remind import remind
from ingest.cli.stats import stats
from ingest.config import Config, ConfigError, load_config
from ingest.reading.clean_text import clean_data, clean_text
from ingest.reading.labels import STATUSES

# Start-up: importing this module loads click and the settings only. Each command imports what
# it alone needs in its body (the reading modules, SQLAlchemy, the models, rich, the poll cycle),
# so `--help`, `parse` and `decode` do not pay for the database: cron runs gongdan every minute.


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    envvar="GONGDAN_CONFIG",
    help="Config file (default: $GONGDAN_CONFIG or ./gongdan.toml).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """gongdan (工单): the after-sales email desk for EV-charging operators."""
    ctx.obj = {"config_path": config_path}


def _config(ctx: click.Context, required: bool = True) -> Config:
    """The checked config; only commands that touch no mailbox or database run without one."""
    try:
        return load_config(ctx.obj["config_path"], required=required)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _parse_one(path: str, config: Config) -> dict:
    from ingest.reading.email_reader import NotAnEmail
    from ingest.reading.limits import TooSlow
    from ingest.reading.ticket import read_ticket

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return {"file": path, "error": f"cannot read file: {exc.strerror or exc}"}
    try:
        reading = read_ticket(raw, config.desk)
    except (NotAnEmail, TooSlow) as exc:
        return {"file": path, "error": str(exc)}
    except Exception as exc:  # one bad file never stops the others
        return {"file": path, "error": f"cannot read email: {type(exc).__name__}: {exc}"}
    return {"file": path, **reading.as_json()}


def _json_line(value) -> str:
    """One JSON line of data from mail or the database, safe on a terminal: json.dumps escapes
    C0 controls but not C1 or bidi controls, so every string is cleaned first."""
    return json.dumps(clean_data(value), ensure_ascii=False)


def _summary(result: dict) -> str:
    """The people's view of one parsed file; every value in it is cleaned (clean_text)."""
    return clean_text(_summary_lines(result))


def _summary_lines(result: dict) -> str:
    from ingest.reading.completeness import mask_phone
    from ingest.reading.fields import catalog

    if "error" in result:
        return f"{result['file']}: ERROR {result['error']}"
    labels = {s.key: s.label for s in catalog().fields}
    lines = [
        f"{result['file']}",
        f"  subject:   {result['subject']}",
        f"  from:      {result['from']}",
        f"  template:  {result['template']}   complete: {'yes' if result['complete'] else 'no'}"
        f"   action: {result['action']}"
        + ("   (automatic mail)" if result["auto_submitted"] else ""),
    ]
    for key, value in result["fields"].items():
        shown = mask_phone(value) if key == "phone" else value
        lines.append(
            f"  {labels[key]}: {shown.splitlines()[0] if shown else ''}"
            + (" …" if "\n" in shown else "")
        )
    if result["order_time"]:
        lines.append(f"  order time: {result['order_time']}")
    if result["missing"]:
        lines.append("  missing:   " + ", ".join(labels[k] for k in result["missing"]))
    for key, reason in result["invalid"].items():
        lines.append(f"  invalid:   {labels[key]}: {reason}")
    for warning in result["warnings"]:
        lines.append(f"  warning:   {warning}")
    for code in result["stop_codes"]:
        lines.append(f"  stop code: {code['vendor']} {code['code']} {code['meaning']}")
    return "\n".join(lines)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, one per line.")
@click.pass_context
def parse(ctx: click.Context, files: tuple[str, ...], as_json: bool) -> None:
    """Read email files as tickets, without a database or network.

    Example: gongdan parse --json inbox/*.eml
    """
    config = _config(ctx, required=False)
    failed = 0
    for path in files:
        result = _parse_one(path, config)
        failed += "error" in result
        if as_json:
            click.echo(_json_line(result))
        else:
            click.echo(_summary(result))
    if failed:
        click.echo(
            f"gongdan: {failed} of {len(files)} file(s) could not be read as email", err=True
        )
        ctx.exit(1)


@cli.command()
@click.argument("codes", nargs=-1, type=int)
@click.option(
    "--vendor", default=None, help="Vendor table (default: the configured default_vendor)."
)
@click.option("--list", "list_all", is_flag=True, help="Print the vendor's whole table.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_context
def decode(
    ctx: click.Context, codes: tuple[int, ...], vendor: str | None, list_all: bool, as_json: bool
) -> None:
    """Decode charger stop-reason codes.

    Example: gongdan decode 34 2 99 --vendor sinexcel
    """
    from ingest.reading import stopcodes

    config = _config(ctx, required=False)
    tables = stopcodes.vendors(config.desk.stopcode_dir or None)
    vendor = vendor or config.desk.default_vendor
    if vendor not in tables:
        raise click.ClickException(f"unknown vendor {vendor!r}; known: {', '.join(sorted(tables))}")
    table = tables[vendor]
    if list_all:
        rows = [{**table.lookup(c), "note": table.codes[c].note} for c in sorted(table.codes)]
    elif codes:
        rows = stopcodes.decode_codes(list(dict.fromkeys(codes)), vendor, tables)
    else:
        raise click.UsageError("give one or more CODES, or --list")
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            note = f"  ({row['note']})" if row.get("note") else ""
            click.echo(f"{row['code']:>4}  {row['meaning']}{note}")


@contextmanager
def _database(config: Config):
    """The migrated database of `config`, closed when the command ends."""
    from ingest.store import db

    try:
        engine = db.open_database(config.database_url)
    except db.DatabaseError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield engine
    finally:
        engine.dispose()


@cli.group("db")
def db_group() -> None:
    """Create and upgrade the database.

    Example: gongdan db upgrade
    """


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create the database, or upgrade it to this version's tables. Safe to run again.

    Example: gongdan --config gongdan.toml db upgrade
    """
    from ingest.store import db

    config = _config(ctx)
    try:
        before, after = db.upgrade(config.database_url)
    except db.DatabaseError as exc:
        raise click.ClickException(str(exc)) from exc
    if before == after:
        click.echo(f"database is up to date (revision {after})")
    else:
        click.echo(f"database upgraded from {before or 'empty'} to revision {after}")


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.pass_context
def import_command(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Load .eml files, mbox files or Maildirs into the database (a mailbox backfill).

    Already stored emails are skipped, so an import can be rerun.

    Example: gongdan import backup/2024.mbox old-inbox/
    """
    import io

    from ingest.desk import importer

    config = _config(ctx)
    with _database(config) as engine:
        try:
            total = sum(1 for _ in importer.sources(list(paths)))
            show = sys.stderr.isatty()
            with click.progressbar(
                length=total, label="importing", file=sys.stderr if show else io.StringIO()
            ) as bar:
                counts = importer.import_paths(engine, list(paths), config, progress=bar.update)
        except OSError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(
        f"{counts['total']} emails: {counts['new_ticket']} new tickets, {counts['follow_up']} follow-ups, "
        f"{counts['duplicate']} duplicates skipped, {counts['unreadable']} unreadable (stored and flagged)"
    )


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date like 2024-03-01") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@cli.group()
def tickets() -> None:
    """List and show tickets.

    Example: gongdan tickets list --status waiting_info
    """


@tickets.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only tickets with this status.")
@click.option("--operator", help="Only tickets whose operator name or address contains this.")
@click.option("--since", help="Only tickets created on or after this date (2024-03-01).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per ticket, one per line.")
@click.pass_context
def tickets_list(
    ctx: click.Context, status: str | None, operator: str | None, since: str | None, as_json: bool
) -> None:
    """List tickets, oldest first.

    Example: gongdan tickets list --operator 星星充电 --since 2024-03-01
    """
    from rich.console import Console

    from ingest.cli import views as ticket_views
    from ingest.store import db

    config = _config(ctx)
    with _database(config) as engine, db.session(engine) as session:
        rows = [
            ticket_views.ticket_summary(session, t)
            for t in ticket_views.query_tickets(session, status, operator, _since(since))
        ]
    if as_json:
        for row in rows:
            click.echo(_json_line(row))
    else:
        ticket_views.render_list(Console(), rows)


@tickets.command("show")
@click.argument("number", type=int)
@click.option("--json", "as_json", is_flag=True, help="The ticket as one JSON object.")
@click.pass_context
def tickets_show(ctx: click.Context, number: int, as_json: bool) -> None:
    """Show one ticket: its fields, what is missing, stop codes, the thread and its history.

    Example: gongdan tickets show 42
    """
    from rich.console import Console

    from ingest.cli import views as ticket_views
    from ingest.store import db
    from ingest.store.models import Ticket

    config = _config(ctx)
    with _database(config) as engine, db.session(engine) as session:
        ticket = session.get(Ticket, number)
        if ticket is None:
            raise click.ClickException(f"no ticket #{number}")
        detail = ticket_views.ticket_detail(session, ticket)
    if as_json:
        click.echo(_json_line(detail))
    else:
        ticket_views.render_show(Console(), detail)


class _JsonLines(logging.Formatter):
    """One JSON object per line for log collectors; the per-message line adds its fields as keys."""

    KEYS = ("mailbox", "uid", "message_id", "ticket", "outcome", "action")

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((key, getattr(record, key)) for key in self.KEYS if hasattr(record, key))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _setup_logging(level: str = "INFO", log_format: str = "text") -> None:
    # Progress goes to stdout, so that on failure stderr holds just the one line that matters.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        _JsonLines()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger("gongdan")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _cycle_line(report) -> str:
    parts = []
    for box in report.mailboxes:
        if box.locked:
            parts.append(f"mailbox {box.name}: another gongdan poll is running on it, skipped")
        elif box.error:
            parts.append(f"mailbox {box.name}: ERROR {box.error}")
        else:
            counts = (
                ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(box.counts.items()))
                or "no new mail"
            )
            parts.append(f"mailbox {box.name}: {counts}")
    if report.outbox_error:
        parts.append(f"outbox: ERROR {report.outbox_error}")
    elif report.outbox_locked:
        parts.append("outbox: another run is sending")
    elif report.outbox is not None:
        parts.append(
            f"outbox: {report.outbox.sent} sent, {report.outbox.failed} failed"
            + (f", ERROR {report.outbox.error}" if report.outbox.error else "")
        )
    return "; ".join(parts)


@cli.command()
@click.option("--loop", is_flag=True, help="Keep polling until stopped (SIGTERM or Ctrl-C).")
@click.option(
    "--interval", default=60.0, show_default=True, help="Seconds between cycles with --loop."
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    help="Show log lines of this level and above.",
)
@click.option(
    "--log-format",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"]),
    help="json: one JSON object per line on stdout, for log collectors.",
)
@click.pass_context
def poll(ctx: click.Context, loop: bool, interval: float, log_level: str, log_format: str) -> None:
    """Take new mail from every mailbox, store it, queue replies and send the outbox.

    One cycle, then exit 0; a failure (a mailbox, or an outbox that cannot send: a missing
    password, a refused login, an unreachable server) prints one line on stderr and exits 1;
    replies the outbox could not send stay queued for the next cycle. A second poll
    on a mailbox that is being polled says so and exits 0, so cron can run it every minute.
    With --loop, IMAP mailboxes are watched with IDLE, so new mail is taken within seconds;
    Maildirs, and servers without IDLE, are looked at every --interval seconds.

    Example: gongdan --config /etc/gongdan.toml poll --loop --log-format json
    """
    import gc
    import signal

    from ingest.desk import poll as poll_cycle
    from ingest.desk.watch import Watcher
    from ingest.store import db

    config = _config(ctx)
    _setup_logging(log_level, log_format)
    stopping = []

    def stop(*_args) -> None:
        stopping.append(True)

    if loop:
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    watcher = Watcher(config.mailboxes) if loop else None  # it starts listening at its first wait
    try:
        with _database(config) as engine:
            # What is loaded by now (modules, mappers, compiled statements) lives as long as the
            # process: the collector need not scan it again and again during a large cycle.
            gc.freeze()
            while True:
                try:
                    report = poll_cycle.run_cycle(config, engine, stop=lambda: bool(stopping))
                except Exception as exc:  # a worker outlives one bad cycle; a cron run says why
                    if not loop:
                        raise click.ClickException(
                            f"poll failed: {type(exc).__name__}: {db.short_error(exc)}"
                        ) from exc
                    logging.getLogger("gongdan.poll").exception(
                        "cycle failed; trying again after the interval"
                    )
                    watcher.wait(interval, stop=lambda: bool(stopping))
                    continue
                line = _cycle_line(report)
                if log_format == "json":
                    line = _JsonLines().format(
                        logging.makeLogRecord(
                            {
                                "name": "gongdan.cycle",
                                "levelname": "INFO",
                                "levelno": logging.INFO,
                                "msg": line,
                            }
                        )
                    )
                click.echo(line)
                if not loop or stopping:
                    break
                watcher.wait(interval, stop=lambda: bool(stopping))
    finally:
        if watcher is not None:
            watcher.close()
    if report.errors and not loop:
        raise click.ClickException(report.errors[0])


@cli.command()
@click.option("--loop", is_flag=True, help="Keep sending until stopped (SIGTERM or Ctrl-C).")
@click.option(
    "--interval", default=60.0, show_default=True, help="Seconds between drains with --loop."
)
@click.option(
    "--log-level",
    default="INFO",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    help="Least severe log messages to print (on stderr).",
)
@click.pass_context
def send(ctx: click.Context, loop: bool, interval: float, log_level: str) -> None:
    """Send the replies that are due, as `gongdan poll` does at the end of its cycle.

    One drain, then exit 0; an outbox that cannot send (a missing password, a refused login, an
    unreachable server) prints one line on stderr and exits 1, its replies still queued. While
    another run sends the outbox, says so and exits 0. With --loop, drains every --interval
    seconds: sending in its own process, beside `gongdan poll`.

    Example: gongdan --config /etc/gongdan.toml send --loop --interval 10
    """
    import signal
    import threading

    from ingest.store import db
    from replies.send_stage import send_due

    config = _config(ctx)
    _setup_logging(log_level)
    stopping = threading.Event()
    if loop:
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        signal.signal(signal.SIGINT, lambda *_: stopping.set())
    with _database(config) as engine:
        while True:
            try:
                report = send_due(config, engine, stop=stopping.is_set)
            except Exception as exc:  # a worker outlives one bad drain; a one-off run says why
                if not loop:
                    raise click.ClickException(
                        f"send failed: {type(exc).__name__}: {db.short_error(exc)}"
                    ) from exc
                logging.getLogger("gongdan.outbox").exception("sending failed; trying again")
                report = None
            else:
                if report is None:
                    click.echo("outbox: another run is sending")
                else:
                    click.echo(
                        f"outbox: {report.sent} sent, {report.failed} failed"
                        + (f", ERROR {report.error}" if report.error else "")
                    )
            if not loop or stopping.wait(interval):
                break
    if report is not None and report.error and not loop:
        raise click.ClickException(f"outbox: {report.error}")


@cli.command()
@click.option(
    "--since",
    "since_text",
    metavar="SPAN",
    help="Period length such as 24h or 7d (default: since the last digest, or 24h for the first).",
)
@click.option("--dry-run", is_flag=True, help="Build it without queueing or sending it.")
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Also write the HTML digest to this file."
)
@click.option(
    "--now",
    "now_text",
    metavar="ISO-8601",
    help="Act as of this time, with its zone (2026-11-30T09:00+08:00); default: the clock.",
)
@click.pass_context
def digest(
    ctx: click.Context, since_text: str | None, dry_run: bool, out: str | None, now_text: str | None
) -> None:
    """Mail the engineers a digest of the period: counts, open tickets, stop-code and operator charts.

    Each digest records the period it covered, so the next one starts where it ended.

    Example: gongdan digest --dry-run --out digest.html
    """
    from replies.digest import parse_since, run_digest, send_now

    config = _config(ctx)
    try:
        since = parse_since(since_text) if since_text else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    try:
        now = datetime.fromisoformat(now_text) if now_text else None
    except ValueError:
        now = None
    if now_text and (now is None or now.tzinfo is None):
        raise click.BadParameter(
            f"expected ISO-8601 with a zone, such as 2026-11-30T09:00+08:00, not {now_text!r}",
            param_hint="--now",
        )
    _setup_logging("WARNING")
    with _database(config) as engine:
        try:
            summary = run_digest(config, engine, since, dry_run, out, now)
        except (ValueError, RuntimeError) as exc:
            raise click.ClickException(str(exc)) from exc
        counts = summary["counts"]
        click.echo(
            f"{summary['subject']}: {counts['new']} new, {counts['waiting_info']} waiting for the operator, "
            f"{counts['in_progress']} in progress, {counts['on_hold']} on hold, {counts['resolved']} resolved"
        )
        if out:
            click.echo(f"written to {out}")
        if dry_run:
            return
        report = send_now(config, engine)
        if report is None:
            click.echo("queued; another run is sending the outbox and will send it")
        elif report.errors:
            raise click.ClickException(f"digest queued but not sent yet: {report.errors[0]}")
        else:
            click.echo(f"sent to {', '.join(summary['recipients'])}")


@cli.group("outbox")
def outbox_group() -> None:
    """Look at and retry the replies waiting to go out.

    Example: gongdan outbox list --failed
    """


@outbox_group.command("list")
@click.option("--failed", is_flag=True, help="Only replies whose last attempt failed.")
@click.pass_context
def outbox_list(ctx: click.Context, failed: bool) -> None:
    """Replies not yet sent: ticket, kind, recipient, attempts, next attempt and the last error.

    Example: gongdan outbox list
    """
    from sqlalchemy import select

    from ingest.store.models import Outbox

    config = _config(ctx)
    states = ("failed",) if failed else ("queued", "sending", "failed")
    with _database(config) as engine, engine.connect() as conn:
        rows = conn.execute(
            select(Outbox).where(Outbox.state.in_(states)).order_by(Outbox.id)
        ).all()
    for row in rows:
        # Addresses and server error text come from outside: cleaned for the terminal.
        click.echo(
            clean_text(
                f"{row.message_id}  ticket #{row.ticket_id or '-'}  {row.kind}  to {', '.join(row.to_addresses)}  "
                f"{row.state}, {row.attempts} attempt(s), next {row.next_attempt_at or 'never'}"
                + (f"  last error: {row.last_error}" if row.last_error else "")
            )
        )
    if not rows:
        click.echo("nothing waiting")


@outbox_group.command("retry")
@click.argument("message_ids", nargs=-1, required=True)
@click.pass_context
def outbox_retry(ctx: click.Context, message_ids: tuple[str, ...]) -> None:
    """Queue failed replies again now, e.g. one left after an interrupted hand-over once you know
    the mail server does not have it. The next `gongdan poll` sends them.

    Example: gongdan outbox retry '<gongdan.1795.4e94@support.example.cn>'
    """
    from ingest.store import db
    from replies.outbox import requeue

    config = _config(ctx)
    missing = []
    with _database(config) as engine, db.session(engine) as session:
        for message_id in message_ids:
            if not requeue(session, message_id):
                missing.append(message_id)
    if missing:
        raise click.ClickException(f"no failed reply with Message-ID {', '.join(missing)}")
    click.echo(f"{len(message_ids)} reply(ies) queued again")


@cli.command("export")
@click.option("--since", help="Only tickets updated on or after this date (2024-03-01).")
@click.option("--ticket", "ticket_id", type=int, help="Only this ticket.")
@click.option(
    "--raw",
    "raw_dir",
    type=click.Path(file_okay=False),
    help="Also write every stored message's "
    "raw bytes as DIR/<ticket>/<n>.eml (and DIR/unreadable/), for `gongdan import`.",
)
@click.pass_context
def export_command(
    ctx: click.Context, since: str | None, ticket_id: int | None, raw_dir: str | None
) -> None:
    """Write every ticket with its messages, history and outbox as JSON Lines, oldest first,
    then the stored messages that belong to no ticket.

    Example: gongdan export --raw backup/ > backup/tickets.jsonl
    """
    from ingest.store.export import export

    config = _config(ctx)
    with _database(config) as engine, engine.connect() as conn:
        for item in export(conn, _since(since), ticket_id, Path(raw_dir) if raw_dir else None):
            click.echo(_json_line(item))


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
@click.option(
    "--interval",
    default=60.0,
    show_default=True,
    help="Seconds between polls (cron: 60); no successful cycle for three intervals is degraded.",
)
@click.pass_context
def status_command(ctx: click.Context, as_json: bool, interval: float) -> None:
    """Health: each mailbox's last cycle and error, the outbox, the database revision.

    Exit 0 healthy, 1 degraded, 2 when the config or the database cannot be read.

    Example: gongdan status --json || echo "gongdan needs attention"
    """
    from ingest.desk.health import BROKEN, status
    from ingest.store import db

    try:
        config = load_config(ctx.obj["config_path"])
        engine = db.open_database(config.database_url)
    except (ConfigError, db.DatabaseError) as exc:
        click.echo(
            json.dumps({"healthy": False, "exit_code": BROKEN, "problems": [str(exc)]})
            if as_json
            else f"BROKEN: {exc}",
            err=not as_json,
        )
        ctx.exit(BROKEN)
    try:
        with engine.connect() as conn:
            report = status(conn, config, db.current_revision(engine), datetime.now(UTC), interval)
    except Exception as exc:  # the database went away between opening and reading
        click.echo(f"BROKEN: cannot read the database: {db.short_error(exc)}", err=True)
        ctx.exit(BROKEN)
    finally:
        engine.dispose()
    if as_json:
        click.echo(_json_line(report))
    else:
        report = clean_data(
            report
        )  # server error text is shown as it came: cleaned for the terminal
        click.echo("healthy" if report["healthy"] else "DEGRADED: " + "; ".join(report["problems"]))
        for box in report["mailboxes"]:
            click.echo(
                f"mailbox {box['name']}: last success {box['last_success'] or 'never'}, "
                f"UIDVALIDITY {box['uidvalidity']}, last UID {box['last_uid']}"
                + (
                    f", last error {box['last_error_at']}: {box['last_error']}"
                    if box["last_error"]
                    else ""
                )
            )
        o = report["outbox"]
        click.echo(
            f"outbox: {o['queued']} queued, {o['failed']} failed (oldest failure {o['oldest_failure'] or '-'}), "
            f"{o['sent']} sent"
        )
        drained = o["last_drain"]
        if drained:
            click.echo(
                f"outbox: last send {drained['at']} "
                + ("ok" if drained["ok"] else f"FAILED: {drained['error']}")
            )
        click.echo(f"database revision: {report['database']['revision']}")
    ctx.exit(report["exit_code"])


@cli.command()
@click.option(
    "--inbox",
    default="demo/inbox",
    show_default=True,
    type=click.Path(exists=True, file_okay=False),
    help="The sample Maildir to read (it is copied, never changed).",
)
@click.option(
    "--dir", "workdir", default="demo-run", show_default=True, help="Where the demo writes."
)
@click.pass_context
def demo(ctx: click.Context, inbox: str, workdir: str) -> None:
    """Run the desk on the sample operator emails: Maildir in, Maildir outbox, SQLite. No servers.

    Example: gongdan demo && gongdan --config demo-run/gongdan.toml tickets list
    """
    from ingest.cli.demo import run_demo

    run_demo(Path(inbox), Path(workdir), echo=click.echo)


cli.add_command(stats)
cli.add_command(remind)


def main() -> None:
    try:
        cli.main(prog_name="gongdan", standalone_mode=True)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
