// Reads vitest's JSON report and prints the closing line CI reads: "tests: N passed, N failed[, N skipped]".
// Only tests are counted; a test file that failed without a failed test of its own (it did not load, or a hook
// failed) counts as one failure, and a missing or unreadable report is one failure too.
import fs from 'node:fs';

let report;
try {
  report = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
} catch (e) {
  console.log(`tests: vitest wrote no readable report (${e.message})`);
  console.log('tests: 0 passed, 1 failed');
  process.exit(0);
}
const files = report.testResults ?? [];
const count = (status) => files.reduce((n, f) => n + f.assertionResults.filter((a) => a.status === status).length, 0);
const brokenFiles = files.filter((f) => f.status === 'failed' && !f.assertionResults.some((a) => a.status === 'failed'));
for (const f of brokenFiles) console.log(`tests: ${f.name} failed outside its tests: ${(f.message ?? '').split('\n')[0]}`);
const skipped = count('skipped') + count('pending') + count('todo');
console.log(`tests: ${count('passed')} passed, ${count('failed') + brokenFiles.length} failed${skipped ? `, ${skipped} skipped` : ''}`);
