#!/usr/bin/env bash
# Install gongdan with its test dependencies and the servers the tests need (Dovecot,
# PostgreSQL; aiosmtpd comes from PyPI), check lint and formatting with ruff, then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-servers.sh
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
exec .venv/bin/python -m pytest -q "$@"
