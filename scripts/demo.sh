#!/usr/bin/env bash
# Install gongdan and run it on the embedded default: the sample Maildir of operator emails in demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/gongdan demo
