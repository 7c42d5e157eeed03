#!/usr/bin/env bash
# Writes requirements/constraints.txt: the exact version of every package pdfprompt, its
# tests and its benchmarks install (`pyproject.toml`'s dependencies and extras) and of the
# tools that install and build it (requirements/tools.in: uv, pip, hatchling), resolved for
# every platform and Python 3.11 up. scripts/setup.sh, scripts/bench.sh and the image
# install with it. Run it on purpose to move to newer releases, then run the tests.
#   scripts/lock.sh                               every package at the newest version allowed
#   scripts/lock.sh --upgrade-package NAME ...    those only; the others stay as they are
set -euo pipefail
cd "$(dirname "$0")/.."
# Only uv is needed (not an install of the packages, which the old file might refuse).
if [ ! -x .venv/bin/python ]; then "${PYTHON:-python3}" -m venv .venv; fi
[ -x .venv/bin/uv ] || .venv/bin/python -m pip install -q --disable-pip-version-check uv
if [ $# -eq 0 ]; then set -- --upgrade; fi
.venv/bin/uv pip compile pyproject.toml requirements/tools.in --extra test --extra bench \
  --universal --python-version 3.11 -q -o requirements/constraints.txt "$@"
names=$(grep -E '^[A-Za-z0-9]' requirements/constraints.txt | cut -d= -f1 | sort -u | wc -l)
echo "lock: requirements/constraints.txt pins $names packages"
