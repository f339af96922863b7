/**
 * The job store: an append-only journal of JSON lines under <data-dir>/jobs.journal. Each line is
 * the whole record of one job after a change; the last line of an id wins. It survives a crash
 * (a torn last line is ignored), is compacted on open, and is owned by one server at a time
 * (an exclusive flock on <data-dir>/jobs.lock via fs-ext).
 * Why not SQLite: the volume is tiny (a CE VM runs a handful of jobs), a journal has no native
 * build step, and a text file is easy to inspect on a broken VM.
 */
import { open, mkdir, readFile, rename, type FileHandle } from 'node:fs/promises';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import fsExt from 'fs-ext';
import { CeError } from '../../core/errors.js';
import { fsyncDir } from '../../core/atomic.js';
import type { JobRecord, JobState } from './model.js';

export class JobStore {
  private jobs = new Map<string, JobRecord>();
  private byIdempotencyKey = new Map<string, string>();
  private fh?: FileHandle;
  private lockFd?: number;
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly dir: string) {}

  get journalPath(): string {
    return join(this.dir, 'jobs.journal');
  }

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.lockFd = openSync(join(this.dir, 'jobs.lock'), 'a');
    try {
      fsExt.flockSync(this.lockFd, 'exnb');
    } catch {
      closeSync(this.lockFd);
      this.lockFd = undefined;
      throw new CeError('JOB_STORE_LOCKED', `Another CE process owns the job store in ${this.dir}.`, {
        hint: 'Stop the other `ce serve`, or give this one another --data-dir.',
        status: 500,
      });
    }
    const text = await readFile(this.journalPath, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return '';
      throw e;
    });
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const rec = JSON.parse(line) as JobRecord;
        if (rec && typeof rec.id === 'string') this.index(rec);
      } catch {
        // A torn line from a crash mid-append: everything before it is intact.
      }
    }
    await this.compact();
  }

  private index(rec: JobRecord): void {
    this.jobs.set(rec.id, rec);
    if (rec.idempotencyKey) this.byIdempotencyKey.set(rec.idempotencyKey, rec.id);
  }

  /** Rewrite the journal with one line per job (atomic: temp + fsync + rename). */
  private async compact(): Promise<void> {
    const tmp = `${this.journalPath}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    await fh.writeFile([...this.jobs.values()].map((j) => JSON.stringify(j) + '\n').join(''));
    await fh.sync();
    await fh.close();
    await rename(tmp, this.journalPath);
    fsyncDir(this.dir);
    this.fh = await open(this.journalPath, 'a', 0o600);
  }

  get(id: string): JobRecord | undefined {
    return this.jobs.get(id);
  }

  getByIdempotencyKey(key: string): JobRecord | undefined {
    const id = this.byIdempotencyKey.get(key);
    return id ? this.jobs.get(id) : undefined;
  }

  list(filter: { state?: JobState; type?: string } = {}): JobRecord[] {
    return [...this.jobs.values()]
      .filter((j) => (!filter.state || j.state === filter.state) && (!filter.type || j.type === filter.type))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Update the record in memory only (progress ticks): the next put() persists it. */
  putVolatile(rec: JobRecord): void {
    this.index(rec);
  }

  /** Persist the record (the caller passes the whole updated record). Durable when the promise resolves. */
  async put(rec: JobRecord): Promise<void> {
    this.index(rec);
    const line = JSON.stringify(rec) + '\n';
    const fh = this.fh;
    if (!fh) throw new CeError('JOB_STORE_CLOSED', 'The job store is closed.', { status: 503 });
    // Serialise appends so lines never interleave.
    const next = this.writing.then(async () => {
      await fh.write(line);
      await fh.datasync();
    });
    this.writing = next.catch(() => undefined);
    await next;
  }

  async close(): Promise<void> {
    await this.writing;
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
    if (this.lockFd !== undefined) {
      try {
        fsExt.flockSync(this.lockFd, 'un');
      } catch {
        /* closing releases it anyway */
      }
      closeSync(this.lockFd);
      this.lockFd = undefined;
    }
  }
}
