"""Where mail comes from: IMAP, Maildir, how a fetch is cut into batches, and the read-ahead
that reads the next batches while the desk stores this one."""
