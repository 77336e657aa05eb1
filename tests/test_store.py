"""Storing emails in threads, on SQLite and on a real PostgreSQL (SPEC §6 threading, issue 3)."""

import pytest
from sqlalchemy import text
from sqlmodel import select

from ingest.config import Config, Engineer
from ingest.store import db
from ingest.store.models import Message, StopCodeHit, Ticket, TicketEvent
from ingest.store.tickets import store_and_commit
from tests.clock import utcnow
from tests.conftest import make_mail

FIRST = "运营商：星星充电\n问题描述：3号桩充不上电，停止原因：34\n"
SECOND = "运营商初步排查结果：重启无效\n订单号：20261124081644614873\n"


@pytest.fixture
def store(engine):
    config = Config()
    config.engineers = [Engineer("小明", "xiaoming@gongdan.example.cn")]

    session = db.session(engine)

    def put(raw, **source):
        return store_and_commit(session, raw, config, **source, now=utcnow())

    put.config = config
    yield put
    session.close()


def rows(engine, model, *where):
    with db.session(engine) as session:
        return list(session.exec(select(model).where(*where)))


def test_upgrade_from_empty_then_idempotent(database_url):
    assert db.upgrade(database_url) == (None, db.head_revision())
    assert db.upgrade(database_url) == (db.head_revision(), db.head_revision())


def test_postgresql_sessions_compile_no_plan(pg_url):
    """JIT is off in every PostgreSQL session of ours (db._postgresql_session), a new
    connection too, whatever the server's default: compiling a plan cost more than running
    it."""
    engine = db.make_engine(pg_url)
    try:
        for _ in range(2):
            with engine.connect() as conn:
                assert conn.execute(text("SHOW jit")).scalar() == "off"
            engine.dispose()  # the next one is a new connection
    finally:
        engine.dispose()


def test_upgrade_drops_the_outbox_data_started_at_and_keeps_queued_replies(database_url):
    """Revision 0004: a reply queued before it is still queued after it, the column is gone,
    and a downgrade brings the column back (SQLite copies the table, PostgreSQL alters it)."""
    from datetime import UTC, datetime

    import sqlalchemy as sa
    from alembic import command

    def columns(engine) -> set[str]:
        return {c["name"] for c in sa.inspect(engine).get_columns("outbox")}

    cfg = db._alembic_config(database_url)
    engine = db.make_engine(database_url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0003")
        with engine.begin() as conn:
            outbox = sa.Table("outbox", sa.MetaData(), autoload_with=conn)
            conn.execute(
                outbox.insert(),
                {
                    "kind": "ack",
                    "message_id": "<r1@x>",
                    "recipient": "op@x.cn",
                    "to_addresses": ["op@x.cn"],
                    "raw": b"reply",
                    "state": "queued",
                    "attempts": 0,
                    "created_at": datetime(2026, 11, 25, tzinfo=UTC),
                    "data_started_at": None,
                },
            )
        assert "data_started_at" in columns(engine)
        assert db.upgrade(database_url) == ("0003", db.HEAD_REVISION)
        assert "data_started_at" not in columns(engine)
        with engine.connect() as conn:
            queued = conn.execute(text("SELECT message_id, state, raw FROM outbox")).all()
        assert [(m, s, bytes(r)) for m, s, r in queued] == [("<r1@x>", "queued", b"reply")]
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0003")
        assert "data_started_at" in columns(engine)
    finally:
        engine.dispose()


def test_unmigrated_database_is_refused_with_what_to_run(database_url):
    with pytest.raises(db.DatabaseError, match=r"run `gongdan db upgrade`"):
        db.open_database(database_url)


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    url = f"sqlite:///{tmp_path}/g.db"
    db.upgrade(url)
    engine = db.open_database(url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_reply_by_headers_joins_fills_fields_and_completes(store, engine):
    first = store(
        make_mail(FIRST, subject="充电失败", message_id="<a1@x.example.cn>"),
        mailbox="support",
        uid=7,
    )
    assert first.outcome == "new_ticket" and first.ticket.status == "waiting_info"
    assert first.ticket.missing == ["order_no", "operator_findings"]
    follow = store(
        make_mail(
            SECOND,
            subject="Re: 充电失败",
            message_id="<a2@x.example.cn>",
            in_reply_to="<a1@x.example.cn>",
            references="<a1@x.example.cn>",
        )
    )
    assert follow.outcome == "follow_up" and follow.ticket.id == first.ticket.id
    assert follow.became_complete and set(follow.changed) == {"order_no", "operator_findings"}
    ticket = rows(engine, Ticket)[0]
    assert ticket.complete and ticket.status == "in_progress" and ticket.missing == []
    assert ticket.template == "detailed" and ticket.order_time.year == 2026
    kinds = [e.kind for e in rows(engine, TicketEvent, TicketEvent.ticket_id == ticket.id)]
    assert kinds == ["field_set", "field_set", "completed"]
    stored = rows(engine, Message, Message.message_id == "<a1@x.example.cn>")[0]
    assert (stored.mailbox, stored.uid, stored.direction) == ("support", 7, "in")
    assert stored.raw == make_mail(FIRST, subject="充电失败", message_id="<a1@x.example.cn>")
    assert [h.code for h in rows(engine, StopCodeHit)] == [34]


def test_changed_value_records_old_and_new(store, engine):
    store(make_mail(FIRST + "订单号：123ABC\n", message_id="<c1@x.example.cn>"))
    store(
        make_mail(
            "订单号：20261124081644614873",
            message_id="<c2@x.example.cn>",
            in_reply_to="<c1@x.example.cn>",
        )
    )
    event = rows(engine, TicketEvent, TicketEvent.kind == "field_changed")[0]
    assert event.detail == {"field": "order_no", "old": "123ABC", "new": "20261124081644614873"}


def test_subject_tag_joins_for_operator_and_colleague_but_not_stranger(store, engine):
    first = store(
        make_mail(FIRST, message_id="<t1@x.example.cn>", sender="ops@xingxing.example.cn")
    )
    tag = f"[工单#{first.ticket.id}]"
    # A reply whose client dropped In-Reply-To and References: the tag carries it.
    same = store(make_mail(SECOND, subject=f"Re: 充电桩故障 {tag}", message_id="<t2@x.example.cn>"))
    # A colleague at the operator's domain: only once that domain is an operator domain (SPEC §6a).
    unlisted = store(
        make_mail(
            "补充",
            subject=f"Re: {tag}",
            message_id="<t6@x.example.cn>",
            sender="boss@xingxing.example.cn",
        )
    )
    assert unlisted.outcome == "new_ticket" and unlisted.flags == ["foreign_ticket_tag"]
    store.config.desk.operator_domains = ["xingxing.example.cn"]
    colleague = store(
        make_mail(
            "补充",
            subject=f"Re: {tag}",
            message_id="<t3@x.example.cn>",
            sender="boss@xingxing.example.cn",
        )
    )
    engineer = store(
        make_mail(
            "好的",
            subject=f"Re: {tag}",
            message_id="<t4@x.example.cn>",
            sender="xiaoming@gongdan.example.cn",
        )
    )
    stranger = store(
        make_mail(
            "运营商：别人\n问题描述：看看",
            subject=f"Re: {tag}",
            message_id="<t5@evil.example.com>",
            sender="x@evil.example.com",
        )
    )
    assert {same.ticket.id, colleague.ticket.id, engineer.ticket.id} == {first.ticket.id}
    assert stranger.outcome == "new_ticket" and stranger.ticket.id != first.ticket.id
    assert stranger.flags == ["foreign_ticket_tag"]
    assert rows(engine, Ticket, Ticket.id == first.ticket.id)[0].operator == "星星充电"


def test_shared_free_mail_domain_is_not_a_colleague(store):
    first = store(make_mail(FIRST, message_id="<q1@qq.com>", sender="111@qq.com"))
    other = store(
        make_mail(
            "x",
            subject=f"Re: [工单#{first.ticket.id}]",
            message_id="<q2@qq.com>",
            sender="222@qq.com",
        )
    )
    assert other.outcome == "new_ticket" and other.flags == ["foreign_ticket_tag"]


def test_duplicates_by_message_id_and_by_bytes_are_stored_once(store, engine):
    raw = make_mail(FIRST, message_id="<d1@x.example.cn>")
    assert store(raw).outcome == "new_ticket"
    assert store(b"Received: from relay2\r\n" + raw).outcome == "duplicate"
    no_id = make_mail(FIRST, message_id=None)
    assert store(no_id).outcome == "new_ticket"
    assert store(no_id).outcome == "duplicate"
    assert len(rows(engine, Message)) == 2 and len(rows(engine, Ticket)) == 2


@pytest.mark.parametrize("raw", [b"", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x00binary"])
def test_unreadable_message_is_kept_with_its_bytes_and_error(store, engine, raw):
    stored = store(raw, mailbox="support", uid=3)
    assert stored.outcome == "unreadable"
    kept = rows(engine, Message)[0]
    assert kept.raw == raw and kept.ticket_id is None and kept.flags == ["unreadable"]
    assert kept.parse_error.startswith("not an email")
    assert store(raw).outcome == "duplicate"


def test_auto_reply_is_stored_on_its_ticket_without_touching_fields(store, engine):
    first = store(make_mail(FIRST, message_id="<r1@x.example.cn>"))
    auto = store(
        make_mail(
            "运营商：自动回复内容",
            subject="自动回复: 充电桩故障",
            message_id="<r2@x.example.cn>",
            in_reply_to="<r1@x.example.cn>",
            headers={"Auto-Submitted": "auto-replied"},
        )
    )
    assert auto.ticket.id == first.ticket.id and auto.changed == {}
    assert rows(engine, Message, Message.message_id == "<r2@x.example.cn>")[0].auto_submitted


def test_upgrade_0005_dates_stored_mail_and_nulls_meaningless_stop_codes(database_url):
    """Revision 0005: each stored message gets its sent_at (its Date when plausible, else when
    it arrived), and a brand-without-table stop code's "" becomes NULL."""
    from datetime import UTC, datetime

    import sqlalchemy as sa
    from alembic import command

    arrived = datetime(2026, 11, 20, tzinfo=UTC)
    cfg = db._alembic_config(database_url)
    engine = db.make_engine(database_url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0004")
        with engine.begin() as conn:
            meta = sa.MetaData()
            ticket, message, hit = (
                sa.Table(name, meta, autoload_with=conn)
                for name in ("ticket", "message", "stopcodehit")
            )
            conn.execute(
                ticket.insert(),
                {
                    "id": 1,
                    "subject": "s",
                    "template": "none",
                    "status": "waiting_info",
                    "operator_address": "a@x.cn",
                    "thread_addresses": [],
                    "missing": [],
                    "invalid": {},
                    "complete": False,
                    "created_at": arrived,
                    "updated_at": arrived,
                },
            )
            base = {
                "ticket_id": 1,
                "in_reply_to": "",
                "references": [],
                "from_address": "a@x.cn",
                "to_addresses": [],
                "subject": "s",
                "text": "",
                "raw": b"x",
                "size": 1,
                "mailbox": "",
                "direction": "in",
                "auto_submitted": False,
                "flags": [],
                "received_at": arrived,
            }
            dates = [datetime(2026, 11, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC), None]
            conn.execute(
                message.insert(),
                [
                    {**base, "id": n, "message_id": f"<{n}@x>", "raw_sha256": str(n), "date": d}
                    for n, d in enumerate(dates, start=1)
                ],
            )
            conn.execute(
                hit.insert(),
                [
                    {"ticket_id": 1, "message_db_id": 1, "vendor": v, "code": 41, "meaning": m}
                    | {"known": bool(m)}
                    for v, m in (("特来电", ""), ("sinexcel", "绝缘检测失败"))
                ],
            )
        db.upgrade(database_url)
        with engine.connect() as conn:
            sent = [
                at if at.tzinfo else at.replace(tzinfo=UTC)
                for at in conn.execute(sa.select(Message.sent_at).order_by(Message.id)).scalars()
            ]
            meanings = conn.execute(text("SELECT meaning FROM stopcodehit ORDER BY id")).all()
        assert sent == [datetime(2026, 11, 1, tzinfo=UTC), arrived, arrived]
        assert [m for (m,) in meanings] == [None, "绝缘检测失败"]
    finally:
        engine.dispose()


def test_the_daily_limit_reads_the_last_day_not_the_whole_outbox(engine):
    """Counted per mailbox (+tags folded as the reply is queued) over the last day only, through
    the (recipient, created_at) index (migration 0011): the count does not grow with every reply
    ever sent, nor with every reply of the day."""
    from datetime import timedelta

    from ingest.store.models import Outbox
    from ingest.store.outbox import _REPLIES_SINCE, Outgoing, replies_since_each, rows_of
    from tests.clock import utcnow

    now = utcnow()
    rows = [
        {"recipient": f"op{i % 7}@xingxing.example.cn", "created_at": now - timedelta(days=2 + i)}
        for i in range(300)
    ]
    # The last day's replies, queued as the desk queues them: a +tag reaches op1's mailbox.
    for n, (to, hours) in enumerate(
        [("op1@xingxing.example.cn", 1), ("OP1+gd@Xingxing.example.cn", 2), ("op2@x.cn", 3)]
    ):
        mail = Outgoing("ack", b"", f"<d{n}@gongdan>", [to], "Re", "support@gongdan.example.cn")
        outbox_row, _ = rows_of(mail, now - timedelta(hours=hours))
        rows.append(
            {"recipient": outbox_row["recipient"], "created_at": now - timedelta(hours=hours)}
        )
    assert rows[-2]["recipient"] == "op1@xingxing.example.cn"
    with engine.begin() as conn:
        conn.execute(
            Outbox.__table__.insert(),
            [
                {
                    "kind": "ack",
                    "message_id": f"<r{n}@gongdan>",
                    "to_addresses": [],
                    "raw": b"",
                    "state": "sent",
                    **row,
                }  # fmt: skip
                for n, row in enumerate(rows)
            ],
        )
    with db.session(engine) as session:
        counts = replies_since_each(
            session, {"op1+x@xingxing.example.cn", "op3@xingxing.example.cn"}, now - timedelta(1)
        )
        assert counts == {"op1@xingxing.example.cn": 2, "op3@xingxing.example.cn": 0}
        if engine.dialect.name == "sqlite":
            statement = _REPLIES_SINCE.params(since=now, mailboxes=["a@b", "c@d"])
            sql = statement.compile(
                engine, compile_kwargs={"literal_binds": True, "render_postcompile": True}
            )
            plan = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
            assert "ix_outbox_recipient_created_at" in str(plan), plan


def test_upgrade_0011_folds_the_tags_of_queued_replies_so_the_daily_limit_still_counts_them(
    database_url,
):
    """A reply queued to `op+gd@x` before revision 0011 counts against op@x's daily limit after
    it, as it did before; the other rows keep their recipient, and a downgrade keeps the data."""
    from datetime import timedelta

    import sqlalchemy as sa
    from alembic import command

    from ingest.store.outbox import replies_since_each
    from tests.clock import utcnow

    now = utcnow()
    cfg = db._alembic_config(database_url)
    engine = db.make_engine(database_url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0010")
        outbox = sa.table(
            "outbox",
            *map(sa.column, ("kind", "message_id", "recipient", "raw", "state", "attempts")),
            sa.column("to_addresses", sa.JSON),
            sa.column("created_at", sa.DateTime(timezone=True)),
        )
        with engine.begin() as conn:
            conn.execute(
                outbox.insert(),
                [
                    {
                        "kind": "ack",
                        "message_id": f"<r{n}@x>",
                        "recipient": recipient,
                        "to_addresses": [recipient],
                        "raw": b"reply",
                        "state": "sent",
                        "attempts": 1,
                        "created_at": now - timedelta(hours=n + 1),
                    }
                    for n, recipient in enumerate(["op+gd@x.cn", "op@x.cn", "other+1+2@x.cn", ""])
                ],
            )
        assert db.upgrade(database_url) == ("0010", db.HEAD_REVISION)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT recipient FROM outbox ORDER BY id")).scalars().all()
        assert stored == ["op@x.cn", "op@x.cn", "other@x.cn", ""]
        with db.session(engine) as session:
            counts = replies_since_each(session, {"op@x.cn", "other+3@x.cn"}, now - timedelta(1))
        assert counts == {"op@x.cn": 2, "other@x.cn": 1}
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0010")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM outbox")).scalar() == 4
    finally:
        engine.dispose()


@pytest.mark.parametrize("body_bytes, parts", [(20, 1), (6_000, 4)])
def test_a_batch_of_replies_is_queued_in_a_few_statements_whatever_their_number(
    engine, body_bytes, parts
):
    """One INSERT of the outbox rows and one of the messages that keep them on their threads for
    each db.STATEMENT_BYTES of mail: a RETURNING of their ids made SQLAlchemy send one INSERT a
    row (936 for a 1,000-mail poll), and a statement of more than PostgreSQL's receive buffer
    can stall 200 ms on loopback."""
    from sqlalchemy import event

    from ingest.store import outbox
    from ingest.store.models import Outbox

    def reply(n: int) -> outbox.Outgoing:
        return outbox.Outgoing(
            kind="ack",
            raw=f"Message-ID: <q{n}@gongdan>\r\n\r\n{'回' * (body_bytes // 3)} {n}\r\n".encode(),
            message_id=f"<q{n}@gongdan>",
            to=[f"op{n}@xingxing.example.cn"],
            subject=f"Re: 故障{n}",
            from_address="support@gongdan.example.cn",
            on_thread=n % 5 != 0,  # a few on no thread, as a digest is
        )

    inserts = []
    event.listen(
        engine,
        "before_cursor_execute",
        lambda conn, cursor, sql, *_: (
            inserts.append(sql.split("(")[0].strip())
            if sql.lstrip().upper().startswith("INSERT")
            else None
        ),
    )
    mails = [reply(n) for n in range(40)]
    with db.session(engine) as session:
        outbox.enqueue_many(session.connection(), mails, utcnow())
        session.commit()
    assert inserts == ["INSERT INTO outbox", "INSERT INTO message"] * parts
    assert (
        (parts - 1) * db.STATEMENT_BYTES
        < sum(len(m.raw) for m in mails)
        <= (parts * db.STATEMENT_BYTES)
    )
    with db.session(engine) as session:
        queued = session.exec(select(Outbox.message_id, Outbox.state)).all()
        kept = session.exec(select(Message.message_id).where(Message.direction == "out")).all()
    assert sorted(queued) == sorted((f"<q{n}@gongdan>", "queued") for n in range(40))
    assert sorted(kept) == sorted(f"<q{n}@gongdan>" for n in range(40) if n % 5)


def test_parts_by_size_keep_every_row_in_order_and_under_the_limit():
    sizes = [30, 30, 50, 120, 10, 10, 90]
    parts = db.parts_by_size(sizes, lambda size: size, limit=100)
    assert parts == [[30, 30], [50], [120], [10, 10], [90]]
    assert [size for part in parts for size in part] == sizes
    assert db.parts_by_size([], len) == []


def test_the_core_tables_agree_with_the_models():
    """ingest.store.tables (a poll with no mail and the follow-up step, without the ORM) names
    the models' columns with their types, each of its tables whole."""
    from sqlmodel import SQLModel
    from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

    from ingest.store import tables

    same = {AutoString: "String", UTCDateTime: "UTCDateTime"}
    for core in tables.metadata.sorted_tables:
        model = SQLModel.metadata.tables[core.name]
        assert core.columns.keys() == model.columns.keys(), core.name
        for column in core.columns:
            theirs = model.columns[column.name]
            kind = same.get(type(theirs.type), type(theirs.type).__name__)
            shape = (type(column.type).__name__, column.nullable, column.primary_key)
            assert shape == (kind, theirs.nullable, theirs.primary_key), (core.name, column.name)


def test_a_time_written_by_the_core_tables_reads_back_in_the_models(engine):
    from datetime import UTC, datetime, timedelta, timezone

    from ingest.store import mailbox_state
    from ingest.store.models import MailboxState
    from ingest.store.tables import mailbox_state as state_table

    china = datetime(2026, 11, 30, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    mailbox_state.record(engine, "support", None, china)
    assert mailbox_state.state_of(engine, "support") == (None, 0)
    with db.session(engine) as session:
        state = session.get(MailboxState, "support")
        assert state.last_success_at == datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
        state.last_error_at = china
        session.commit()
    with engine.connect() as conn:
        row = conn.execute(select(state_table.c.last_error_at)).one()
    assert row.last_error_at == china and row.last_error_at.tzinfo == UTC


def test_the_core_written_is_the_indexed_expression():
    """Queries on the Core message table say WRITTEN as the models' ix_message_written index
    does, so that the database finds a period's mail through it."""
    from sqlalchemy.dialects import postgresql, sqlite

    from ingest.store import models, tables

    for dialect in (sqlite.dialect(), postgresql.dialect()):
        core = str(tables.WRITTEN.compile(dialect=dialect))
        assert core == str(models.WRITTEN.compile(dialect=dialect))
        assert core == "coalesce(message.sent_at, message.received_at)"
