#!/usr/bin/env bash
# Installs everything unimem needs on a fresh machine of this kind: npm packages (exact versions from
# package-lock.json) and Debian's Chromium for the report's browser test. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# Slurm and munge for the test that runs emitted sweep scripts on a single-node cluster it starts itself
# (test/cli/slurm.test.ts). The packages' own services must not start on install: a policy-rc.d that
# refuses them is put in place for the install when the machine has none.
slurm_missing=0
for prog in slurmctld slurmd munged sbatch; do
  command -v "$prog" >/dev/null 2>&1 || [ -x "/usr/sbin/$prog" ] || slurm_missing=1
done
if [ "$slurm_missing" = 1 ]; then
  if [ "$(id -u)" = 0 ]; then
    policy_added=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy_added=1
    fi
    (apt-get -o DPkg::Lock::Timeout=600 update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends slurm-wlm munge) >/dev/null 2>&1 \
      || echo "install.sh: could not install slurm-wlm and munge; the Slurm test will be skipped" >&2
    if [ "$policy_added" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  else
    echo "install.sh: slurm-wlm and munge are missing and this user cannot apt-get them; the Slurm test will be skipped" >&2
  fi
fi
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >/dev/null 2>&1 \
      || echo "install.sh: could not install chromium; the browser test of the report will fail" >&2
  else
    echo "install.sh: chromium is missing and this user cannot apt-get it; the browser test of the report will fail" >&2
  fi
fi

# Capture of real programs (src/trace/, native/shim/): valgrind (lackey, and valgrind/valgrind.h for
# the shim), memcached with libmemcached's load tools, redis-server, and gcc for the shim. Debian's
# memcached and redis-server packages start their daemons on install; a temporary policy-rc.d
# stops that, so nothing is left running.
trace_packages="valgrind memcached libmemcached-tools redis-server gcc libc6-dev"
missing=""
for p in $trace_packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
      trap 'rm -f "$policy"' EXIT
    fi
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "install.sh: missing Debian packages:$missing (run as root to install them); trace captures will fail" >&2
  fi
fi
# The shim is built into build/native/ under the hash of its source (src/trace/shim.ts).
node --import tsx src/trace/shim.ts >/dev/null
# The trace reader's WebAssembly decoder, built with AssemblyScript (a dev dependency) into build/native/.
node --import tsx src/trace/wasm-decoder.ts >/dev/null
# The translation path in WebAssembly (src/hw/wasm/translate.ts), built the same way into build/native/.
node --import tsx src/hw/wasm-translate.ts >/dev/null
# The huge-page advice for the model's memory (native/hugepages, src/base/hugepages.ts), a Node-API
# addon built with gcc against Node's headers into build/native/; without it the model runs on 4 KiB
# pages (same results, slower). gcc comes with the trace packages above.
node --import tsx src/base/hugepages.ts
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
# The micro-VMM of the real host (native/vmm, docs/realhost.md): gcc and the static C library.
if ! command -v gcc >/dev/null 2>&1 || [ ! -e /usr/include/linux/kvm.h ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends gcc libc6-dev linux-libc-dev) >/dev/null 2>&1 \
      || echo "install.sh: could not install gcc; the real host will be unavailable" >&2
  fi
fi
bash native/vmm/build.sh
# perf counts TLB flushes on the real host (tlb:tlb_flush tracepoint).
if ! command -v perf >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends linux-perf) >/dev/null 2>&1 \
    || echo "install.sh: could not install linux-perf; TLB flushes on the real host will be unavailable" >&2
fi
