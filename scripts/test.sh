#!/usr/bin/env bash
# The test command (npm test): PostgreSQL+pgvector for the real-node tests, the type check, then every suite.
# Ends with one plain line, "tests: N passed, N failed", that CI reads (scripts/test-summary.js counts tests only).
set -uo pipefail
cd "$(dirname "$0")/.."

if ! bash scripts/install-postgres.sh; then
  echo "tests: PostgreSQL with pgvector is missing and could not be installed (see above)." >&2
  echo "tests: 0 passed, 1 failed"
  exit 1
fi

if ! bash scripts/install-test-tools.sh; then
  echo "tests: chromium or fortunes is missing and could not be installed (see above)." >&2
  echo "tests: 0 passed, 1 failed"
  exit 1
fi

npx tsc -p tsconfig.json || { echo "tests: the type check failed (see above)."; echo "tests: 0 passed, 1 failed"; exit 1; }

report=$(mktemp)
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
code=$?
node scripts/test-summary.js "$report"
rm -f "$report"
exit $code
