/**
 * Benchmarks measure the service as users run it: `node bin/ce.cjs serve` in its own process
 * (the compiled dist/ when built, as `npm start` runs it), never in the benchmark's own event loop,
 * where the load generator would compete with the service it measures.
 */
import { execa, type ResultPromise } from 'execa';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { identityFrom, type ClientIdentity } from '../../helpers/https.js';
import { ROOT } from '../../helpers/cli.js';

export interface ServiceProcess {
  url: string;
  client: ClientIdentity;
  mode: string;
  proc: ResultPromise;
  /** Peak resident memory so far (VmHWM), in MiB. */
  peakRssMiB(): Promise<number>;
  stop(): Promise<void>;
}

/** Build dist/ unless CE_BENCH_BUILD=0, so the numbers are those of the current sources compiled. */
export async function buildDist(): Promise<void> {
  if (process.env.CE_BENCH_BUILD === '0' && existsSync(join(ROOT, 'dist/ce-server/cli/main.js'))) return;
  process.stderr.write('building dist/ (npm run build)…\n');
  await execa('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
}

export async function startServiceProcess(dataDir: string, flags: string[] = []): Promise<ServiceProcess> {
  const proc = execa(process.execPath, [join(ROOT, 'bin/ce.cjs'), 'serve', '--json', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', ...flags], { cwd: ROOT, reject: false });
  const mode = existsSync(join(ROOT, 'dist/ce-server/cli/main.js')) ? 'compiled (dist/)' : 'sources through tsx';
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve((JSON.parse(out.split('\n')[0]!) as { url: string }).url);
    });
    void proc.then((r) => reject(new Error(`ce serve exited: ${String(r.stderr).slice(-2000)}`)));
  });
  return {
    url,
    client: identityFrom(join(dataDir, 'tls')),
    mode,
    proc,
    async peakRssMiB() {
      const status = await readFile(`/proc/${proc.pid}/status`, 'utf8');
      return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    },
    async stop() {
      proc.kill('SIGTERM');
      await proc;
    },
  };
}
