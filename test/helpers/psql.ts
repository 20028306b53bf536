// Runs psql (the real client) with a script on stdin and returns what it printed.
import { spawn } from 'node:child_process';

export interface PsqlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function psql(port: number, script: string, opts: { database?: string; password?: string; args?: string[] } = {}): Promise<PsqlResult> {
  return new Promise((resolve, reject) => {
    const p = spawn('psql', ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', opts.database ?? 'postgres', '-v', 'ON_ERROR_STOP=1', ...(opts.args ?? [])], {
      env: { ...process.env, PGPASSWORD: opts.password ?? '', PGCONNECT_TIMEOUT: '10' },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    p.stdin.end(script);
  });
}
