/**
 * The status pollers of bench:e2e, in a process of their own (forked by e2e.ts): `pollers`
 * keep-alive mTLS clients, each GET /v1/jobs/:id every `intervalMs`, until told to stop. They
 * answer with every latency and with this process's own event-loop delay, so a slow poll can be
 * told apart from a poller that was itself starved of CPU. With `nice` set (root only) the process
 * runs at that priority: a connector polls from another machine, not from the 2 cores it measures.
 */
import { setPriority } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { CeClient, type ClientIdentity } from '../../../ce-server/client/api-client.js';

export interface PollerStart {
  url: string;
  client: ClientIdentity;
  ids: string[];
  pollers: number;
  intervalMs: number;
  /** performance.timeOrigin of the parent, so "second of the run" means the same in both. */
  t0: number;
  nice?: number;
}

export interface PollerResult {
  latencies: number[];
  handshakes: number[];
  /** [second of the run, ms] of polls over 100 ms */
  slowest: Array<[number, number]>;
  /** [second of the run, ms] of the times this process's own event loop stood still for over 50 ms */
  stalls: Array<[number, number]>;
  /** Polls over 100 ms during which this process itself stood still for over 50 ms. */
  slowDuringStall: number;
  errors: number;
  niceApplied: number | null;
  loopDelay: { p50Ms: number; p99Ms: number; maxMs: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

process.once('message', (start: PollerStart) => {
  let niceApplied: number | null = null;
  if (start.nice !== undefined) {
    try {
      setPriority(0, start.nice);
      niceApplied = start.nice;
    } catch {
      /* not root: stay at the default priority (reported) */
    }
  }
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const res: PollerResult = { latencies: [], handshakes: [], slowest: [], stalls: [], slowDuringStall: 0, errors: 0, niceApplied, loopDelay: { p50Ms: 0, p99Ms: 0, maxMs: 0 } };
  let running = true;
  process.once('message', () => (running = false));
  const now = () => performance.timeOrigin + performance.now() - start.t0;
  // A 10 ms tick that comes late means this process was not running (CPU starvation or its own GC).
  let lastTick = performance.now();
  const ticker = setInterval(() => {
    const t = performance.now();
    if (t - lastTick > 60) res.stalls.push([(now() - (t - lastTick)) / 1000, t - lastTick - 10]);
    lastTick = t;
  }, 10);
  const client = new CeClient(start.url, start.client, { keepAlive: true, maxSockets: start.pollers });
  const pollers = Array.from({ length: start.pollers }, async (_, k) => {
    await sleep((k * start.intervalMs) / start.pollers); // spread over the interval, as independent clients are
    for (let first = true; running; first = false) {
      const s = performance.now();
      const r = await client.request('GET', `/v1/jobs/${start.ids[k % start.ids.length]}`).catch(() => undefined);
      if (!r || r.status !== 200) res.errors++;
      const ms = performance.now() - s;
      (first ? res.handshakes : res.latencies).push(ms);
      if (ms > 100) res.slowest.push([(now() - ms) / 1000, ms]);
      await sleep(start.intervalMs);
    }
  });
  void Promise.all(pollers).then(() => {
    clearInterval(ticker);
    client.close();
    res.slowDuringStall = res.slowest.filter(([at, ms]) => res.stalls.some(([s, d]) => s < at + ms / 1000 && s + d / 1000 > at)).length;
    loop.disable();
    const ms = (ns: number) => Math.round(ns / 1e5) / 10;
    res.loopDelay = { p50Ms: ms(loop.percentile(50)), p99Ms: ms(loop.percentile(99)), maxMs: ms(loop.max) };
    process.send!(res, () => process.disconnect());
  });
});
