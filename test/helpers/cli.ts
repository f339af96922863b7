/** Run the `ce` CLI from the TypeScript sources, as a user would, and capture its output. */
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SHARED = fileURLToPath(new URL('../../../shared', import.meta.url));

export interface CliResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export async function runCe(args: string[], opts: { env?: Record<string, string>; input?: string; cwd?: string } = {}): Promise<CliResult> {
  const r = await execa(process.execPath, ['--import', 'tsx', `${ROOT}ce-server/cli/main.ts`, ...args], {
    reject: false,
    env: { ...opts.env },
    input: opts.input,
    cwd: opts.cwd ?? ROOT,
  });
  return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
}

/** Parse the JSON output of `ce … --json`. */
export function json<T = Record<string, unknown>>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`);
  }
}
