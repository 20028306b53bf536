// Runs a client program without blocking the event loop (the coordinator under test shares this process).
import { runCommand } from './wait.ts';

export function run(file: string, args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return runCommand(file, args, { env: { ...process.env, ...env }, timeoutMs });
}
