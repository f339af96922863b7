/**
 * Per-job logs: every pino line that carries a `jobId` is also appended to
 * <data-dir>/logs/<jobId>.log and emitted to the job's event stream. The lines come out of pino
 * already redacted, so secrets never reach the file or the stream.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EventEmitter } from 'node:events';

export class JobLogRouter {
  private files = new Map<string, WriteStream>();

  constructor(
    private readonly dir: string,
    /** The emitter the runner publishes job events on (shared, so log lines reach SSE subscribers). */
    readonly events: EventEmitter,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /** pino multistream entry: receives each serialised line. */
  write(line: string): void {
    const i = line.indexOf('"jobId":"');
    if (i < 0) return;
    const id = line.slice(i + 9, line.indexOf('"', i + 9));
    if (!/^[A-Za-z0-9_-]+$/.test(id)) return;
    let f = this.files.get(id);
    if (!f) {
      f = createWriteStream(this.path(id), { flags: 'a', mode: 0o600 });
      this.files.set(id, f);
    }
    f.write(line.endsWith('\n') ? line : line + '\n');
    if (this.events.listenerCount(`job:${id}`) > 0) {
      try {
        const o = JSON.parse(line) as { level: number; time: string; msg?: string };
        this.events.emit(`job:${id}`, { type: 'log', data: o });
      } catch {
        /* not JSON: skip the stream, the file has it */
      }
    }
  }

  path(id: string): string {
    return join(this.dir, `${id}.log`);
  }

  /** Close the job's file once it has ended. */
  async release(id: string): Promise<void> {
    const f = this.files.get(id);
    if (!f) return;
    this.files.delete(id);
    await new Promise<void>((resolve) => f.end(resolve));
  }

  async read(id: string): Promise<string> {
    return readFile(this.path(id), 'utf8').catch(() => '');
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.files.keys()].map((id) => this.release(id)));
  }
}
