#!/usr/bin/env bash
# The test command (npm test): PostgreSQL+pgvector for the real-node tests, the type check, then every suite.
# Ends with one plain line, "tests: N passed, N failed", that CI reads.
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

npx tsc -p tsconfig.json || { echo "tests: 0 passed, 1 failed (type check)"; exit 1; }

report=$(mktemp)
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
code=$?
node -e '
  const fs = require("fs");
  let r = {};
  try { r = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch {}
  const failed = (r.numFailedTests ?? 0) + (r.numFailedTestSuites ?? 0);
  console.log(`tests: ${r.numPassedTests ?? 0} passed, ${failed} failed`);
' "$report"
rm -f "$report"
exit $code
