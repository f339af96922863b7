/** Start the real CE service in-process (HTTPS on a free loopback port, temp data dir) and stop it in teardown. */
import { PassThrough } from 'node:stream';
import { execa, type ResultPromise } from 'execa';
import { ROOT } from './cli.js';
import { existsSync } from 'node:fs';
import { startService, type StartedService } from '../../ce-server/server/serve.js';
import { identityFrom, type ClientIdentity } from './https.js';
import { tempDir, type Teardownable } from './tmp.js';

export interface TestService {
  svc: StartedService;
  base: string;
  client: ClientIdentity;
  dataDir: string;
  /** Every log line written so far. */
  logs(): string;
  stop(): Promise<void>;
}

export async function startTestService(t: Teardownable, flags: Record<string, unknown> = {}, dataDir?: string): Promise<TestService> {
  const dir = dataDir ?? (await tempDir(t, 'ce-svc-'));
  const sink = new PassThrough();
  let text = '';
  sink.on('data', (c: Buffer) => (text += c.toString('utf8')));
  const svc = await startService({ host: '127.0.0.1', port: '0', dataDir: dir, logLevel: 'info', ...flags }, sink);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await svc.server.close();
  };
  t.teardown(stop);
  // A CE VM identity (no local client certificate) has no client side to offer.
  const client = existsSync(`${svc.identity.dir}/client.crt`) ? identityFrom(svc.identity.dir) : { ca: '' };
  return { svc, base: svc.url, client, dataDir: dir, logs: () => text, stop };
}

export async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `ce serve` from the sources in a child process (for tests that kill and restart the CE). */
export async function spawnServe(dataDir: string, flags: string[] = []): Promise<{ proc: ResultPromise; url: string }> {
  const proc = execa(process.execPath, ['--import', 'tsx', `${ROOT}ce-server/cli/main.ts`, 'serve', '--json', '--port', '0', '--data-dir', dataDir, ...flags], { cwd: ROOT, reject: false });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve((JSON.parse(out.slice(0, nl)) as { url: string }).url);
    });
    void proc.then((r) => reject(new Error(`serve exited: ${String(r.stderr)}`)));
  });
  return { proc, url };
}
