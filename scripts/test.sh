#!/usr/bin/env bash
# Install gongdan with its test dependencies and the servers the tests need (Dovecot,
# PostgreSQL; aiosmtpd comes from PyPI), then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-servers.sh
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec .venv/bin/python -m pytest -q "$@"
