/**
 * Status pollers of bench:e2e, in processes of their own (forked by e2e.ts): `count` of the
 * `pollers` keep-alive mTLS clients, each GET /v1/jobs/:id every `intervalMs`, until told to stop.
 * Messages: `start` (PollerStart); with `ids` the clients poll at once (their first poll makes the
 * connection), without them each client first connects (GET /v1/jobs, its mTLS handshake), the
 * process answers `connected` and waits for `go` (the ids); then `stop`, answered by the results.
 * They report every latency and this process's own event-loop delay and stalls, so a slow poll can
 * be told apart from a poller that was itself starved of CPU. With `nice` set (root only) the
 * process runs at that priority.
 */
import { setPriority } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { CeClient, type ClientIdentity } from '../../../ce-server/client/api-client.js';

export interface PollerStart {
  t: 'start';
  url: string;
  client: ClientIdentity;
  /** Without ids: connect first, then wait for `go`. */
  ids?: string[];
  /** This process runs pollers first … first+count-1 of `pollers` in all. */
  first: number;
  count: number;
  pollers: number;
  intervalMs: number;
  /** performance.timeOrigin + t0 of the parent, so "second of the run" means the same in both. */
  t0: number;
  nice?: number;
}
export type PollerMessage = PollerStart | { t: 'go'; ids: string[]; t0: number } | { t: 'stop' };

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
const next = () => new Promise<PollerMessage>((resolve) => process.once('message', (m: PollerMessage) => resolve(m)));

async function main(): Promise<void> {
  const start = (await next()) as PollerStart;
  let niceApplied: number | null = null;
  if (start.nice !== undefined) {
    try {
      setPriority(0, start.nice);
      niceApplied = start.nice;
    } catch {
      /* not root: stay at the default priority (reported) */
    }
  }
  const res: PollerResult = { latencies: [], handshakes: [], slowest: [], stalls: [], slowDuringStall: 0, errors: 0, niceApplied, loopDelay: { p50Ms: 0, p99Ms: 0, maxMs: 0 } };
  let t0 = start.t0;
  const now = () => performance.timeOrigin + performance.now() - t0;
  const client = new CeClient(start.url, start.client, { keepAlive: true, maxSockets: start.count });
  const ks = Array.from({ length: start.count }, (_, i) => start.first + i);
  const spread = (k: number) => sleep((k * start.intervalMs) / start.pollers); // as independent clients are
  const poll = async (path: string, first: boolean) => {
    const s = performance.now();
    const r = await client.request('GET', path).catch(() => undefined);
    if (!r || r.status !== 200) res.errors++;
    const ms = performance.now() - s;
    (first ? res.handshakes : res.latencies).push(ms);
    if (ms > 100 && !first) res.slowest.push([(now() - ms) / 1000, ms]);
  };
  let ids = start.ids;
  if (!ids) {
    await Promise.all(ks.map(async (k) => (await spread(k), poll('/v1/jobs', true))));
    process.send!({ t: 'connected' });
    const go = (await next()) as { t: 'go'; ids: string[]; t0: number };
    ids = go.ids;
    t0 = go.t0;
  }
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  // A 10 ms tick that comes late means this process was not running (CPU starvation, its own work or GC).
  let lastTick = performance.now();
  const ticker = setInterval(() => {
    const t = performance.now();
    if (t - lastTick > 60) res.stalls.push([(now() - (t - lastTick)) / 1000, t - lastTick - 10]);
    lastTick = t;
  }, 10);
  let running = true;
  void next().then(() => (running = false));
  const connectFirst = !start.ids;
  await Promise.all(
    ks.map(async (k) => {
      await spread(k);
      for (let first = !connectFirst; running; first = false) {
        await poll(`/v1/jobs/${ids![k % ids!.length]}`, first);
        await sleep(start.intervalMs);
      }
    }),
  );
  clearInterval(ticker);
  client.close();
  loop.disable();
  res.slowDuringStall = res.slowest.filter(([at, ms]) => res.stalls.some(([s, d]) => s < at + ms / 1000 && s + d / 1000 > at)).length;
  const ms = (ns: number) => Math.round(ns / 1e5) / 10;
  res.loopDelay = { p50Ms: ms(loop.percentile(50)), p99Ms: ms(loop.percentile(99)), maxMs: ms(loop.max) };
  process.send!(res, () => process.disconnect());
}

void main();
