// Waits with deadlines. Every wait in the suite ends: when its condition holds, when the thing it watches is gone
// (a child process that exited, a socket that closed), or at its deadline — and then it fails saying what it saw.
import { spawn, type ChildProcess } from 'node:child_process';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` until it returns true; fails after `timeoutMs` naming `what` and the last value seen. */
export async function waitFor<T>(what: string, cond: () => T | Promise<T>, { timeoutMs = 10_000, everyMs = 50 } = {}): Promise<Exclude<T, false | undefined | null>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      last = await cond();
      if (last) return last as Exclude<T, false | undefined | null>;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last saw: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await sleep(everyMs);
  }
}

/** Settles with `p`, or fails after `timeoutMs` naming `what`. */
export function within<T>(what: string, p: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** A child process whose output is kept, so a failed wait can show it. */
export interface Watched {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  /** The exit code (or -1 for a signal), once it has exited. */
  exitCode: number | undefined;
  exited: Promise<number>;
}

export function watch(child: ChildProcess): Watched {
  const w: Watched = { child, stdout: '', stderr: '', exitCode: undefined, exited: undefined as unknown as Promise<number> };
  child.stdout?.on('data', (d) => (w.stdout += d));
  child.stderr?.on('data', (d) => (w.stderr += d));
  w.exited = new Promise<number>((resolve) => {
    // 'close' waits for the output streams to end too, so stdout and stderr are whole when it resolves.
    child.on('close', (code) => resolve((w.exitCode = code ?? -1)));
    child.on('error', (e) => {
      w.stderr += `\n[spawn failed: ${e.message}]`;
      resolve((w.exitCode = -1));
    });
  });
  return w;
}

const tail = (s: string) => (s.length > 4000 ? '…' + s.slice(-4000) : s);
export const seen = (w: Watched) => `stdout:\n${tail(w.stdout)}\nstderr:\n${tail(w.stderr)}`;

/** Waits until the child's stdout or stderr matches `re`; fails if it exits first or after `timeoutMs`. */
export async function waitForOutput(w: Watched, re: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(w.stdout) ?? re.exec(w.stderr);
    if (m) return m;
    if (w.exitCode !== undefined) throw new Error(`process exited with ${w.exitCode} before printing ${re}\n${seen(w)}`);
    if (Date.now() >= end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${re}\n${seen(w)}`);
    await Promise.race([w.exited, sleep(25)]);
  }
}

/** Waits for the child to exit; after `timeoutMs` it is killed and the wait fails with what it printed. */
export async function waitForExit(w: Watched, timeoutMs = 30_000): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeoutMs)));
  const r = await Promise.race([w.exited, late]);
  clearTimeout(timer);
  if (r === 'late') {
    w.child.kill('SIGKILL');
    await w.exited;
    throw new Error(`process still running after ${timeoutMs} ms (killed)\n${seen(w)}`);
  }
  return r;
}

/** Runs a command to its end, with input on stdin; killed after `timeoutMs` (code -1, the timeout said in stderr). */
export async function runCommand(file: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const w = watch(spawn(file, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] }));
  w.child.stdin?.on('error', () => {});
  w.child.stdin?.end(opts.input ?? '');
  try {
    return { code: await waitForExit(w, timeoutMs), stdout: w.stdout, stderr: w.stderr };
  } catch {
    return { code: -1, stdout: w.stdout, stderr: `${w.stderr}\n[${file} ${args.join(' ')} killed after ${timeoutMs} ms]` };
  }
}

/** `node --import tsx <script> …` from the repository root. */
export const runTs = (script: string, args: string[], opts: Parameters<typeof runCommand>[2] = {}) => runCommand(process.execPath, ['--import', 'tsx', script, ...args], opts);

/** Starts `vecshard start` (or dev) and waits for its "listening" line; fails with its output if it exits first. */
export async function startCli(args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): Promise<Watched> {
  const w = watch(spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  try {
    await waitForOutput(w, /listening/, timeoutMs);
  } catch (e) {
    w.child.kill('SIGKILL');
    throw e;
  }
  return w;
}
