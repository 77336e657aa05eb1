"""`python -m ingest` runs the gongdan CLI."""

from ingest.cli.main import main

main()
