"""The database: models, migrations, tickets and threads, locks, export."""
