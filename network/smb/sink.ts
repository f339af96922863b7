/**
 * An SMB file as a disk-engine Sink (disk/types.ts), written atomically: data goes to
 * `<name>.partial`; commit() flushes, optionally verifies (reads back and compares SHA-256 of
 * each extent sent), and renames to the final name with SET_INFO (never replacing an existing
 * file unless `overwrite`). close() without commit() (failure, cancel) deletes the partial file.
 *
 * pwrite() is write-behind: it copies the data into pooled buffers (so callers may reuse theirs),
 * coalesces contiguous small writes into full I/O-size requests, and returns once the requests
 * are queued; up to `inFlightBytes` are in flight. The first failure is thrown by the next call.
 * Overlapping writes are ordered (a request waits for in-flight ones it overlaps).
 */
import type { Sink } from '../../disk/types.js';
import { CeError, throwIfCancelled } from '../../core/errors.js';
import type { SmbClient, SmbHandle } from './client.js';
import { SentHashes } from './sent-hashes.js';
import { createHash } from 'node:crypto';
import { copyInto, ioBuffer } from './io-buffer.js';

export interface SinkOptions {
  finalPath: string;
  overwrite: boolean;
  verify: boolean;
  inFlightBytes?: number;
  signal?: AbortSignal;
  /** Disconnect the client when the sink is closed. */
  ownsClient: boolean;
  onProgress?(bytesAcknowledged: number): void;
}

export interface CommitResult {
  path: string;
  bytesWritten: number;
  size: number;
  verified: boolean;
  verifiedBytes?: number;
  unverifiableBytes?: number;
}

interface InFlight {
  pos: number;
  end: number;
  done: Promise<void>;
}

export class SmbSink implements Sink {
  readonly seekable = true;
  private readonly pool: Buffer[] = [];
  private readonly inflight = new Set<InFlight>();
  private inflightBytes = 0;
  private readonly budgetWaiters: Array<() => void> = [];
  private cur?: { pos: number; buf: Buffer; len: number };
  private error?: unknown;
  private readonly hashes?: SentHashes;
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private bytesAcked = 0;
  private endMax = 0;
  private readonly io: number;
  private readonly budget: number;

  constructor(
    readonly name: string,
    private readonly client: SmbClient,
    private readonly handle: SmbHandle,
    private readonly opts: SinkOptions,
  ) {
    this.io = client.ioSize;
    this.budget = Math.max(this.io * 2, opts.inFlightBytes ?? 32 * 1024 * 1024);
    if (opts.verify) this.hashes = new SentHashes();
  }

  /** Whether messages are encrypted (callers may keep less in flight: ciphertext is a second copy). */
  get encrypted(): boolean {
    return this.client.encrypted;
  }

  get smbPath(): string {
    return this.handle.path;
  }

  private check(): void {
    if (this.error) throw this.error;
    if (this.state !== 'open') throw new CeError('SMB_SINK_CLOSED', `The SMB output ${this.name} is already ${this.state}.`, { status: 500 });
    throwIfCancelled(this.opts.signal);
  }

  private lock: Promise<void> = Promise.resolve();

  /** Calls are serialized (concurrent callers are queued in call order). */
  pwrite(data: Buffer, position: number): Promise<void> {
    const p = this.lock.then(() => this.pwriteInner(data, position));
    this.lock = p.catch(() => undefined);
    return p;
  }

  private async pwriteInner(data: Buffer, position: number): Promise<void> {
    this.check();
    if (!Number.isSafeInteger(position) || position < 0) throw new CeError('SMB_BAD_OFFSET', `Bad write offset ${position}.`, { status: 500 });
    this.hashes?.add(data, position);
    this.endMax = Math.max(this.endMax, position + data.length);
    let off = 0;
    while (off < data.length) {
      const c = this.cur;
      if (c && position + off === c.pos + c.len && c.len < this.io) {
        const n = Math.min(this.io - c.len, data.length - off);
        copyInto(c.buf, c.len, data.subarray(off, off + n));
        c.len += n;
        off += n;
        if (c.len === this.io) await this.dispatch();
        continue;
      }
      if (c) await this.dispatch();
      this.cur = { pos: position + off, buf: this.pool.pop() ?? ioBuffer(this.io), len: 0 };
    }
    this.check();
  }

  /** Send the current coalescing buffer. Waits for budget and for overlapping in-flight writes. */
  private async dispatch(): Promise<void> {
    const c = this.cur;
    if (!c) return;
    this.cur = undefined;
    if (c.len === 0) {
      this.pool.push(c.buf);
      return;
    }
    await this.send(c.pos, c.buf.subarray(0, c.len), () => {
      if (c.buf.length === this.io && this.pool.length < 64) this.pool.push(c.buf);
    });
  }

  /** Start one WRITE (≤ io bytes) once the budget allows and no overlapping write is in flight. */
  private async send(pos: number, data: Buffer, release?: () => void): Promise<InFlight> {
    while (this.inflightBytes + data.length > this.budget && this.inflight.size > 0) {
      await new Promise<void>((r) => this.budgetWaiters.push(r));
    }
    const end = pos + data.length;
    for (const f of this.inflight) if (f.pos < end && pos < f.end) await f.done.catch(() => undefined);
    this.inflightBytes += data.length;
    const entry: InFlight = { pos, end, done: Promise.resolve() };
    entry.done = this.client
      .writeChunk(this.handle, pos, data)
      .then(
        () => {
          this.bytesAcked += data.length;
          this.opts.onProgress?.(this.bytesAcked);
        },
        (e) => {
          this.error ??= e;
        },
      )
      .finally(() => {
        this.inflight.delete(entry);
        this.inflightBytes -= data.length;
        release?.();
        this.budgetWaiters.shift()?.();
      });
    this.inflight.add(entry);
    return entry;
  }

  /**
   * pwrite without the copy: the caller must leave `data` untouched until the returned promise
   * resolves, which is when the server has acknowledged every byte. Several calls may be in
   * flight (they are queued in call order); used by whole-file copies with their own buffer ring.
   */
  pwriteDirect(data: Buffer, position: number): Promise<void> {
    const registered = this.lock.then(async () => {
      this.check();
      this.hashes?.add(data, position);
      this.endMax = Math.max(this.endMax, position + data.length);
      await this.dispatch();
      const entries: InFlight[] = [];
      for (let off = 0; off < data.length; off += this.io) entries.push(await this.send(position + off, data.subarray(off, Math.min(data.length, off + this.io))));
      return entries;
    });
    this.lock = registered.then(
      () => undefined,
      () => undefined,
    );
    return registered.then(async (entries) => {
      await Promise.all(entries.map((e) => e.done));
      if (this.error) throw this.error;
    });
  }

  /** Wait for everything queued; throws the first write error. */
  private async drain(): Promise<void> {
    await this.lock;
    await this.dispatch();
    while (this.inflight.size) await Promise.all([...this.inflight].map((f) => f.done));
    if (this.error) throw this.error;
  }

  async truncate(length: number): Promise<void> {
    this.check();
    await this.drain();
    this.hashes?.truncate(length);
    await this.client.setEndOfFile(this.handle, length);
    this.endMax = length;
  }

  async sync(): Promise<void> {
    this.check();
    await this.drain();
    await this.client.flush(this.handle);
  }

  /** Flush, verify (if asked), rename `<name>.partial` → `<name>`, close. */
  async commit(): Promise<CommitResult> {
    this.check();
    try {
      await this.drain();
      await this.client.flush(this.handle);
      const size = await this.client.fileSize(this.handle);
      const result: CommitResult = { path: this.opts.finalPath, bytesWritten: this.bytesAcked, size, verified: false };
      if (this.hashes) {
        const v = await this.verify(size);
        result.verified = true;
        result.verifiedBytes = v;
        result.unverifiableBytes = this.hashes.unverifiableBytes;
      }
      throwIfCancelled(this.opts.signal);
      await this.client.rename(this.handle, this.opts.finalPath, this.opts.overwrite);
      this.state = 'committed';
      await this.client.close(this.handle).catch(() => undefined);
      if (this.opts.ownsClient) await this.client.disconnect();
      return result;
    } catch (e) {
      await this.abort();
      throw e;
    }
  }

  /** Read everything back: extents must match their digests, the gaps between them must be zero. */
  private async verify(size: number): Promise<number> {
    const extents = this.hashes!.plan(size, 4 * 1024 * 1024);
    const zero = Buffer.alloc(4 * 1024 * 1024);
    let verified = 0;
    let next = 0;
    const worker = async () => {
      const buf = ioBuffer(4 * 1024 * 1024);
      while (next < extents.length) {
        const e = extents[next++]!;
        const view = buf.subarray(0, e.len);
        // All chunks of the extent in flight at once.
        const parts: Array<Promise<number>> = [];
        for (let o = 0; o < e.len; o += this.io) parts.push(this.client.readChunk(this.handle, e.pos + o, view.subarray(o, Math.min(e.len, o + this.io))));
        const counts = await Promise.all(parts);
        const got = counts.reduce((a, b) => a + b, 0);
        const ok = got === e.len && (e.digest ? createHash('sha256').update(view).digest().equals(e.digest) : view.equals(zero.subarray(0, e.len)));
        if (!ok) {
          throw new CeError('SMB_VERIFY_FAILED', `Read-back verification failed: the ${e.len} bytes at offset ${e.pos} of ${this.name} differ from what was sent.`, {
            hint: 'The server or the network corrupted data; the partial file is deleted. Retry, and check the server storage.',
            status: 502,
            details: { offset: e.pos, length: e.len },
          });
        }
        verified += e.len;
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    return verified;
  }

  /** Delete the partial file and close. Safe to call more than once. */
  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.cur = undefined;
    while (this.inflight.size) await Promise.all([...this.inflight].map((f) => f.done.catch(() => undefined)));
    try {
      await this.client.markDeleted(this.handle);
    } catch {
      /* best effort: the connection may be gone for good */
    }
    await this.client.close(this.handle).catch(() => undefined);
    if (this.opts.ownsClient) await this.client.disconnect();
  }

  /** Close: without a prior commit() this aborts (deletes the partial file). */
  async close(): Promise<void> {
    if (this.state === 'open') await this.abort();
  }
}
