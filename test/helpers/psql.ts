// Runs psql (the real client) with a script on stdin and returns what it printed.
import { runCommand } from './wait.ts';

export interface PsqlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function psql(port: number, script: string, opts: { database?: string; password?: string; args?: string[]; timeoutMs?: number } = {}): Promise<PsqlResult> {
  return runCommand('psql', ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', opts.database ?? 'postgres', '-v', 'ON_ERROR_STOP=1', ...(opts.args ?? [])], {
    env: { ...process.env, PGPASSWORD: opts.password ?? '', PGCONNECT_TIMEOUT: '10' },
    input: script,
    timeoutMs: opts.timeoutMs ?? 120_000,
  });
}
