#!/usr/bin/env bash
# Redo docs/digest.png: the engineers' digest of a demo desk (tickets waiting for the team among
# them) made by `gongdan digest --out`, screenshotted by headless Chromium. Not part of the tests.
# Needs Debian's chromium and fonts-noto-cjk; docs/render_digest.py does the work (see its
# docstring). Arguments pass through: --out FILE, --keep.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
fi
exec .venv/bin/python docs/render_digest.py "$@"
