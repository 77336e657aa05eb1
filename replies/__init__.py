"""gongdan replies: reply and digest templates, rendering, the outbox and SMTP sending."""
