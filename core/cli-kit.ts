/**
 * Shared plumbing for `ce` subcommands: error output with code and hint, exit codes,
 * `--json` output, and a progress bar on a TTY (JSON lines with --json).
 * Domain modules add their commands with `registerCommands(program)` (see ce-server/cli/commands.ts).
 */
import { createRequire } from 'node:module';
import { toCeError } from './errors.js';
import type { Progress, ProgressListener } from './progress.js';

// cli-progress (21 CommonJS modules) is loaded only when a bar is drawn: every `ce` run pays for
// what it imports at start-up.
const require = createRequire(import.meta.url);
type CliProgress = typeof import('cli-progress');

/** Exit codes: 0 ok, 1 failure (typed error), 2 usage, 3 check found problems, 130 cancelled. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2, PROBLEMS: 3, CANCELLED: 130 } as const;

export interface OutputOptions {
  json?: boolean;
}

/**
 * Wrap a command body: prints the typed error (JSON on stdout with --json, text on stderr
 * otherwise) and sets the exit code. Never prints a stack unless CE_DEBUG=1.
 */
export async function runCommand(opts: OutputOptions, body: () => Promise<void>): Promise<void> {
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await body();
  } catch (e) {
    const err = toCeError(e);
    if (opts.json) {
      process.stdout.write(JSON.stringify({ error: err.toJSON() }) + '\n');
    } else {
      process.stderr.write(`error ${err.code}: ${err.message}\n`);
      if (err.hint) process.stderr.write(`  hint: ${err.hint}\n`);
    }
    if (process.env.CE_DEBUG === '1' && err.cause) process.stderr.write(String((err.cause as Error).stack ?? err.cause) + '\n');
    process.exitCode = err.code === 'CANCELLED' ? EXIT.CANCELLED : EXIT.FAILED;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Print a command's result: JSON with --json, else the human rendering. */
export function printResult<T>(value: T, opts: OutputOptions, human: (v: T) => string): void {
  if (opts.json) process.stdout.write(JSON.stringify(value, bigintReplacer, 2) + '\n');
  else process.stdout.write(human(value).replace(/\n?$/, '\n'));
}

export function bigintReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
export function formatBytes(n: number): string {
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${UNITS[i]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/**
 * A progress listener for a CLI command: a bar on stderr when it is a TTY, JSON lines
 * (`{"event":"progress",…}`) on stdout with --json, nothing otherwise. Call `stop()` at the end.
 */
export function createCliProgress(opts: OutputOptions & { label?: string }): { update: ProgressListener; stop(): void } {
  if (opts.json) {
    return {
      update: (p: Progress) => process.stdout.write(JSON.stringify({ event: 'progress', ...p }) + '\n'),
      stop: () => undefined,
    };
  }
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const cliProgress = require('cli-progress') as CliProgress;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${opts.label ?? 'progress'} [{bar}] {percentage}% {done}/{total} {rate}/s ETA {eta_h}`,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: (p: Progress) => {
      const payload = {
        done: formatBytes(p.bytesDone),
        total: p.bytesTotal !== undefined ? formatBytes(p.bytesTotal) : '?',
        rate: formatBytes(p.rate ?? 0),
        eta_h: p.etaSeconds !== undefined ? formatDuration(p.etaSeconds) : '?',
      };
      if (!started) {
        bar.start(p.bytesTotal ?? 0, p.bytesDone, payload);
        started = true;
      } else {
        if (p.bytesTotal !== undefined) bar.setTotal(p.bytesTotal);
        bar.update(p.bytesDone, payload);
      }
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}
