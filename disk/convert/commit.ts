/**
 * Resume checkpoints for writers: every `everyBytes` of virtual progress (or `everyMs`), drain the
 * writes, make them durable (sink.sync) and report the committed position (WriteContext.onCommit).
 * What a writer must persist before the commit (e.g. the VHD BAT) goes in `beforeCommit`.
 * CE_CONVERT_COMMIT_BYTES overrides the interval (tests use small values).
 */
import type { WriteContext } from '../types.js';
import type { WriteQueue } from './write-queue.js';

/** Virtual bytes between checkpoints (CE_CONVERT_COMMIT_BYTES, default 256 MiB). */
export function commitEveryBytes(): number {
  return Number(process.env.CE_CONVERT_COMMIT_BYTES) || 256 << 20;
}

export class Committer {
  private lastBytes = 0;
  private lastTime = performance.now();

  constructor(
    private readonly q: WriteQueue,
    private readonly ctx: WriteContext,
    private readonly beforeCommit?: () => Promise<void>,
    private readonly everyBytes = commitEveryBytes(),
    private readonly everyMs = 10_000,
  ) {}

  async maybe(virtualOffset: number, fileOffset: number): Promise<void> {
    if (!this.ctx.onCommit) return;
    if (virtualOffset - this.lastBytes < this.everyBytes && performance.now() - this.lastTime < this.everyMs) return;
    await this.now(virtualOffset, fileOffset);
  }

  async now(virtualOffset: number, fileOffset: number): Promise<void> {
    if (!this.ctx.onCommit) return;
    await this.q.drain();
    await this.beforeCommit?.();
    await this.q.drain();
    await this.q.sink.sync?.();
    await this.ctx.onCommit({ virtualOffset, fileOffset });
    this.lastBytes = virtualOffset;
    this.lastTime = performance.now();
  }
}
