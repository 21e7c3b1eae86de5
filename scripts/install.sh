#!/usr/bin/env bash
# Installs everything unimem needs on a fresh machine of this kind: npm packages (exact versions from
# package-lock.json) and Debian's Chromium for the report's browser test. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >/dev/null 2>&1 \
      || echo "install.sh: could not install chromium; the browser test of the report will fail" >&2
  else
    echo "install.sh: chromium is missing and this user cannot apt-get it; the browser test of the report will fail" >&2
  fi
fi
