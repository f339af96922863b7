/**
 * Progress of long work: bytes done and total, with a rate and ETA smoothed over a sliding
 * window so a burst of zero blocks does not make the ETA jump around.
 */
export interface Progress {
  step?: string;
  bytesDone: number;
  bytesTotal?: number;
  /** bytes per second over the recent window */
  rate?: number;
  etaSeconds?: number;
}

export type ProgressListener = (p: Progress) => void;

export class ProgressMeter {
  private samples: Array<[number, number]> = [];
  private lastEmit = 0;
  bytesDone = 0;

  constructor(
    private readonly listener: ProgressListener,
    public bytesTotal?: number,
    public step?: string,
    private readonly minIntervalMs = 250,
    private readonly windowMs = 5000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Add bytes; emits at most every `minIntervalMs`. */
  add(bytes: number): void {
    this.set(this.bytesDone + bytes);
  }

  set(bytesDone: number): void {
    this.bytesDone = bytesDone;
    const t = this.now();
    this.samples.push([t, bytesDone]);
    while (this.samples.length > 2 && t - this.samples[0]![0] > this.windowMs) this.samples.shift();
    if (t - this.lastEmit >= this.minIntervalMs) {
      this.lastEmit = t;
      this.listener(this.snapshot());
    }
  }

  /** Always emits; call at the end of a step. */
  flush(): void {
    this.lastEmit = this.now();
    this.listener(this.snapshot());
  }

  snapshot(): Progress {
    const p: Progress = { bytesDone: this.bytesDone };
    if (this.step !== undefined) p.step = this.step;
    if (this.bytesTotal !== undefined) p.bytesTotal = this.bytesTotal;
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (first && last && last[0] > first[0]) {
      const rate = ((last[1] - first[1]) * 1000) / (last[0] - first[0]);
      p.rate = Math.round(rate);
      if (this.bytesTotal !== undefined && rate > 0) {
        p.etaSeconds = Math.max(0, Math.round((this.bytesTotal - this.bytesDone) / rate));
      }
    }
    return p;
  }
}
