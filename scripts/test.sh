#!/usr/bin/env bash
# The whole test suite: type check, then every test file under test/ with node's test runner.
# UNIMEM_TEST_FILTER=hw runs only test/hw (for quick iterations).
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s globstar nullglob
npx tsc -p . --noEmit
files=(test/${UNIMEM_TEST_FILTER:-}**/*.test.ts)
if [ ${#files[@]} -eq 0 ]; then echo "no test files found" >&2; exit 1; fi
exec node --import tsx --test --test-concurrency=2 "${files[@]}"
