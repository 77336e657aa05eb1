"""`python -m ingest` runs the gongdan CLI."""

from ingest.cli import main

main()
