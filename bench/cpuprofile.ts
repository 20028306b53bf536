// Reads a `node --cpu-prof` profile and prints the functions that took the most time of their own.
import fs from 'node:fs';
import path from 'node:path';

/** The largest .cpuprofile in `dir` (the main thread's; tsx's loader thread writes a smaller one). */
export function newestProfile(dir: string): string {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  return path.join(dir, files.sort((a, b) => fs.statSync(path.join(dir, b)).size - fs.statSync(path.join(dir, a)).size)[0]);
}

/** Self time per function as shares of the total; `exclude` drops entries (idle, syscalls) before the shares. */
export function printSelfTime(file: string, top: number, exclude?: RegExp): void {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map<number, any>(prof.nodes.map((n: any) => [n.id, n]));
  const self = new Map<string, number>();
  prof.samples.forEach((id: number, i: number) => {
    const n = byId.get(id);
    const key = `${n.callFrame.functionName || '(anon)'} ${path.basename(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (prof.timeDeltas[i] ?? 0));
  });
  if (exclude) for (const k of [...self.keys()]) if (exclude.test(k)) self.delete(k);
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}\n`);
  process.stdout.write(`profile: ${file}\n`);
}
