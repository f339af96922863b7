/**
 * How responsive the service's event loop is: utilization and delay over the last complete
 * window (10 s by default). Reported by /v1/health so an operator (and bench:e2e) can see whether
 * job work is starving the API, which the status latency alone cannot tell apart from the network.
 */
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface EventLoopStats {
  windowSeconds: number;
  utilization: number;
  delayP99Ms: number;
  delayMaxMs: number;
}

export class EventLoopMonitor {
  private readonly histogram = monitorEventLoopDelay({ resolution: 10 });
  private elu: EventLoopUtilization = performance.eventLoopUtilization();
  private last: EventLoopStats;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly windowMs = 10_000) {
    this.histogram.enable();
    this.last = this.read();
    this.timer = setInterval(() => (this.last = this.read()), windowMs);
    this.timer.unref();
  }

  /** The last complete window (or what has been measured so far, before the first one ends). */
  stats(): EventLoopStats {
    return this.last;
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }

  private read(): EventLoopStats {
    const now = performance.eventLoopUtilization();
    const elu = performance.eventLoopUtilization(now, this.elu);
    this.elu = now;
    const ms = (ns: number) => (Number.isFinite(ns) ? Math.round(ns / 1e5) / 10 : 0);
    const s = { windowSeconds: this.windowMs / 1000, utilization: Math.round(elu.utilization * 1000) / 1000, delayP99Ms: ms(this.histogram.percentile(99)), delayMaxMs: ms(this.histogram.max) };
    this.histogram.reset();
    return s;
  }
}
