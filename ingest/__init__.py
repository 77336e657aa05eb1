"""gongdan ingest: reading support emails into tickets, storing them, and the poll cycle."""
