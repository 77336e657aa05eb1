"""Where mail comes from: IMAP, Maildir, and how a fetch is cut into batches."""
