#!/usr/bin/env bash
# Installs what pdfprompt needs: Chromium and fonts from the system packages (where this
# machine has apt-get and we may use it), a virtual environment in .venv, and the package.
#   scripts/setup.sh          the service
#   scripts/setup.sh test            the service and its test tools
#   scripts/setup.sh bench-packages  the test tools and the Python peers of the benchmarks
#                                    (the `bench` extra: what scripts/bench.sh runs with)
#   scripts/setup.sh bench           those and the peers bench/markdown_compare.py runs
#                                    (Debian's pandoc, md-to-pdf from npm)
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-}"
WITH_TESTS=no
case "$MODE" in test | bench | bench-packages) WITH_TESTS=yes ;; esac

# Chromium's headless shell renders (it uses 35-63 % of the full browser's CPU per
# document; docs/render.md); the full browser where this Debian has no headless shell package.
# libpango: WeasyPrint, the renderer used when no Chromium is found.
SYSTEM_PACKAGES=(chromium-headless-shell fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji
  fonts-dejavu-core libpango-1.0-0 libpangoft2-1.0-0)
PYTHON=${PYTHON:-python3}
# The tests also run on the full browser (pdfprompt runs it when configured or when it is the
# only Chromium) and against a real Redis (the shared rate limit).
# nodejs (with npm): the browser tests' accessibility rules (axe-core, from the npm registry).
# poppler-utils: the tests read what printed with the tools users check PDFs with (pdftoppm,
# pdftotext, pdffonts, pdfsig); qpdf and ghostscript: independent checks of finished PDFs
# (structure, encryption, PDF/A); libnss3-tools: certutil, which makes the NSS database of
# trusted roots that pdfsig checks signatures against. docker-compose: `docker-compose
# config` checks deploy/compose.yaml (no container engine needed). iptables and faketime:
# the fault test bed's partitions and packet loss, and its worker with a skewed clock
# (tests/faults).
if [ "$WITH_TESTS" = yes ]; then
  SYSTEM_PACKAGES+=(chromium redis-server nodejs poppler-utils qpdf ghostscript libnss3-tools
    docker-compose iptables faketime)
fi
# pandoc: a peer of bench/markdown_compare.py (Markdown printed by Pandoc and the same
# Chromium); never needed by the tests.
if [ "$MODE" = bench ]; then
  SYSTEM_PACKAGES+=(pandoc)
fi

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
  for pkg in "${SYSTEM_PACKAGES[@]}"; do
    installed "$pkg" && continue
    # A Debian with no headless shell package runs the full browser: once that is
    # installed, there is nothing to ask apt-get for on every later run.
    if [ "$pkg" = chromium-headless-shell ] && installed chromium \
       && ! apt-cache show chromium-headless-shell >/dev/null 2>&1; then
      continue
    fi
    missing+=("$pkg")
  done
fi
# The system packages and the Python ones come from different places and need nothing of
# each other: apt-get runs in the background while the virtual environment is filled.
install_system_packages() {
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
    fi
    if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
      echo "setup: installing system packages: ${missing[*]}"
      $SUDO apt-get update -qq
      if ! apt-cache show chromium-headless-shell >/dev/null 2>&1; then
        missing=("${missing[@]/#chromium-headless-shell/chromium}")
      fi
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "setup: warning: cannot install ${missing[*]} (not root, no sudo); install them yourself" >&2
    fi
  else
    echo "setup: warning: no apt-get; install Chromium and Noto fonts yourself," \
         "or set PDFPROMPT_CHROMIUM_PATH" >&2
  fi
}
system_pid=""
if [ ${#missing[@]} -gt 0 ]; then
  install_system_packages &
  system_pid=$!
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Editable: the checkout's src is what runs, so a later setup (test.sh, bench.sh) never puts
# an older copy of the package in front of it.
target=-e.
if [ "$WITH_TESTS" = yes ]; then target=-e.[test]; fi
case "$MODE" in bench | bench-packages) target=-e.[test,bench] ;; esac
# The versions are those of requirements/constraints.txt (scripts/lock.sh writes it from
# pyproject.toml and requirements/tools.in), so that every install, CI's from nothing
# included, gets what was tested: a dependency's new release changes nothing until the file
# is refreshed on purpose. The installers (uv, pip) and the build backend come from it too.
constraints=requirements/constraints.txt
if [ ! -f "$constraints" ]; then
  echo "setup: $constraints is missing: scripts/lock.sh writes it" >&2
  exit 1
fi
# uv (from PyPI, into the environment itself) resolves and installs the packages in seconds
# where pip takes minutes; pip does it where uv cannot be had or fails.
if { [ -x .venv/bin/uv ] \
     || .venv/bin/python -m pip install -q --disable-pip-version-check -c "$constraints" uv; } \
   && .venv/bin/uv pip install -q --python .venv/bin/python -c "$constraints" \
        --build-constraint "$constraints" "$target"; then
  :
else
  echo "setup: uv failed; installing with pip" >&2
  # PIP_CONSTRAINT reaches the build's own environment too (the build backend).
  PIP_CONSTRAINT="$constraints" .venv/bin/python -m pip install -q \
    --disable-pip-version-check --upgrade pip
  PIP_CONSTRAINT="$constraints" .venv/bin/python -m pip install -q \
    --disable-pip-version-check "$target"
fi
if [ -n "$system_pid" ]; then
  wait "$system_pid"
fi
if [ "$WITH_TESTS" = yes ]; then
  # axe-core for the accessibility checks of the browser tests, as locked in the lock file.
  if command -v npm >/dev/null 2>&1; then
    npm ci --prefix tests/web-tools --no-audit --no-fund --loglevel=error >/dev/null
  else
    echo "setup: warning: no npm; the browser tests' accessibility checks cannot run" >&2
  fi
fi
if [ "$MODE" = bench ]; then
  # md-to-pdf, the other peer of bench/markdown_compare.py, as locked in its lock file; its
  # Puppeteer is pointed at Debian's Chromium, so no browser is downloaded.
  if command -v npm >/dev/null 2>&1; then
    PUPPETEER_SKIP_DOWNLOAD=1 npm ci --prefix bench/md-to-pdf --no-audit --no-fund \
      --loglevel=error >/dev/null
  else
    echo "setup: warning: no npm; bench/markdown_compare.py runs without md-to-pdf" >&2
  fi
fi
