#!/usr/bin/env bash
# Builds unimem-vmm into build/native/ of the checkout (git-ignored). Called by scripts/install.sh;
# rebuilds only when a source changed. Static, so the VMM maps no shared libraries: less private
# memory per VM (docs/realhost.md).
set -euo pipefail
cd "$(dirname "$0")"
out=../../build/native
mkdir -p "$out"
if [ -x "$out/unimem-vmm" ] && [ -z "$(find . -newer "$out/unimem-vmm" -name '*.[ch]' -o -newer "$out/unimem-vmm" -name build.sh | head -1)" ]; then
  exit 0
fi
gcc -std=gnu11 -O2 -Wall -Wextra -Werror -static -pthread -o "$out/unimem-vmm.tmp" vmm.c json.c snapshot.c
mv "$out/unimem-vmm.tmp" "$out/unimem-vmm"
