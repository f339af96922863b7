/**
 * A process-wide registry of undo actions (unmount, detach a loop device, remove a temp raw
 * view). Callers `register()` right after acquiring a resource and `release()` it in `finally`.
 * On SIGTERM/SIGINT everything still registered is undone (newest first) before the process
 * exits, so a killed CE never leaves a FUSE mount or a loop device behind.
 */
export type Undo = () => Promise<void>;

interface Entry {
  id: number;
  what: string;
  undo: Undo;
}

const entries: Entry[] = [];
let nextId = 1;
let handlersInstalled = false;
let running: Promise<void> | undefined;
let exitOnSignal = true;

/**
 * A long-running host (the job server) that does its own graceful shutdown calls
 * `setExitOnSignal(false)` and awaits `runAll()` itself; the CLI default exits 128+n after cleanup.
 */
export function setExitOnSignal(v: boolean): void {
  exitOnSignal = v;
}

export interface CleanupHandle {
  readonly what: string;
  /** Run the undo now (once) and forget it. Errors are thrown to the caller. */
  release(): Promise<void>;
  /** Forget without running (ownership moved elsewhere). */
  forget(): void;
}

export function register(what: string, undo: Undo): CleanupHandle {
  installHandlers();
  const e: Entry = { id: nextId++, what, undo };
  entries.push(e);
  let done = false;
  const remove = () => {
    const i = entries.indexOf(e);
    if (i >= 0) entries.splice(i, 1);
  };
  return {
    what,
    async release() {
      if (done) return;
      done = true;
      remove();
      await e.undo();
    },
    forget() {
      done = true;
      remove();
    },
  };
}

/** Undo everything still registered, newest first; errors are collected, never thrown. */
export async function runAll(): Promise<string[]> {
  const errors: string[] = [];
  while (entries.length) {
    const e = entries.pop()!;
    try {
      await e.undo();
    } catch (err) {
      errors.push(`${e.what}: ${(err as Error).message}`);
    }
  }
  return errors;
}

export function pending(): string[] {
  return entries.map((e) => e.what);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(sig, () => {
      // The first signal cleans up then exits with 128+n; the CLI's own abort handler also sees it.
      running ??= runAll().then((errs) => {
        for (const m of errs) process.stderr.write(`cleanup failed: ${m}\n`);
        if (exitOnSignal) process.exit(sig === 'SIGINT' ? 130 : sig === 'SIGTERM' ? 143 : 129);
        running = undefined;
      });
    });
  }
  process.on('exit', () => {
    // Last resort (synchronous): cannot await; anything left here is reported.
    if (entries.length) process.stderr.write(`warning: exiting with resources still held: ${pending().join(', ')}\n`);
  });
}
