/** A read-only ByteSource that shows the file as it would be after log replay (pages patched in memory). */
import type { ByteSource } from '../types.js';
import type { Overlay } from './log.js';

const PAGE = 4096;

export class OverlaySource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private readonly lo: number;
  private readonly hi: number;
  constructor(private readonly base: ByteSource, private readonly overlay: Overlay) {
    this.name = base.name;
    this.size = overlay.size;
    let lo = Infinity, hi = -Infinity; // a loop, not Math.min(...keys): up to 256 Ki pages
    for (const k of overlay.pages.keys()) {
      if (k < lo) lo = k;
      if (k > hi) hi = k;
    }
    this.lo = overlay.pages.size ? lo : 0;
    this.hi = overlay.pages.size ? hi + PAGE : 0;
  }

  async pread(buf: Buffer, position: number): Promise<number> {
    const want = Math.max(0, Math.min(buf.length, this.size - position));
    const fromBase = Math.max(0, Math.min(want, this.base.size - position));
    let n = fromBase > 0 ? await this.base.pread(buf.subarray(0, fromBase), position) : 0;
    if (n < want) buf.fill(0, n, want);
    n = want;
    const end = position + want;
    if (end > this.lo && position < this.hi) {
      for (let p = Math.floor(Math.max(position, this.lo) / PAGE) * PAGE; p < Math.min(end, this.hi); p += PAGE) {
        const page = this.overlay.pages.get(p);
        if (!page) continue;
        const s = Math.max(p, position), e = Math.min(p + PAGE, end);
        page.copy(buf, s - position, s - p, e - p);
      }
    }
    return n;
  }

  close(): Promise<void> {
    return this.base.close();
  }
}
