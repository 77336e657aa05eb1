"""A ticket's statuses. `waiting_info`: incomplete, waiting for the operator; the rest follow 状态.
`closed`: finished without a resolution (merged into another ticket, automatic mail, closed by a
person; SPEC §13). Their words are in display_words; these, without them, are what every poll's
follow-up query needs."""

STATUSES = ("waiting_info", "in_progress", "on_hold", "resolved", "closed")
FINISHED = ("resolved", "closed")  # no longer open: out of the open lists, never reminded
