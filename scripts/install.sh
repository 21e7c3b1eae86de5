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

# The unikernel images' real library code (docs/dependencies.md): the tools to fetch Debian source
# packages and build them with musl, then the one-time library build into the cache outside the repo.
need=()
for p in musl-tools musl-dev dpkg-dev tcl xz-utils make gcc; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}") >/dev/null 2>&1 \
      || echo "install.sh: could not install ${need[*]}; the image builds will fail" >&2
  else
    echo "install.sh: missing ${need[*]} and this user cannot apt-get them; the image builds will fail" >&2
  fi
fi
bash scripts/build-libs.sh >/dev/null
