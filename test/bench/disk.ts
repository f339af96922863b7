/**
 * `npm run bench:disk`: ce convert vs qemu-img convert, side by side, on a 2 GiB raw image with 50%
 * random data in scattered 1 MiB runs and the rest zero (sparse), on local disk.
 * For each pair: 6 rounds (2 for vmdk-stream, whose qemu-img run takes ~30 s), each running ce and
 * qemu-img once without and once with a final fsync, the order alternating from round to round;
 * medians and bests, ratio ce/qemu-img, CPU seconds (user + system) and ce's max RSS (GNU time on
 * the child process). ce runs from the tsc build (dist/), as in production.
 *
 * Noise: this machine is a VM that hands freed memory back to its host (virtio-balloon free page
 * reporting). Page-cache pages allocated after their memory was reported fault on the host when
 * first written: 1 GiB into the page cache costs ~3 s of system time instead of ~0.5 s, whichever
 * tool writes it. Each run therefore starts after settle() (settle.ts: `sync`, then 2 GiB of memory
 * written and freed just before, so the run's pages are host-backed, as in a long-running CE VM),
 * and medians of rotating rounds, and the bests, are printed side by side.
 * Env: CE_BENCH_DIR (default /var/tmp), CE_BENCH_SIZE_MIB (default 2048), CE_BENCH_RUNS (default 6, even: each tool goes first equally often),
 * CE_BENCH_PAIRS (comma list, default all).
 */
import { execa } from 'execa';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { settle } from './settle.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MiB = 1 << 20;
const SIZE = Number(process.env.CE_BENCH_SIZE_MIB ?? 2048) * MiB;
const RUNS = Number(process.env.CE_BENCH_RUNS ?? 6);

interface Pair {
  name: string;
  src: 'raw' | 'vhdx' | 'vmdk-stream';
  to: string;
  qemu: string[];
  ext: string;
}

const PAIRS: Pair[] = [
  { name: 'raw→vhd', src: 'raw', to: 'vhd', qemu: ['-O', 'vpc', '-o', 'subformat=dynamic,force_size=on'], ext: 'vhd' },
  { name: 'raw→vhd-fixed', src: 'raw', to: 'vhd-fixed', qemu: ['-O', 'vpc', '-o', 'subformat=fixed,force_size=on'], ext: 'vhd' },
  { name: 'raw→vhdx', src: 'raw', to: 'vhdx', qemu: ['-O', 'vhdx'], ext: 'vhdx' },
  { name: 'raw→vmdk-stream', src: 'raw', to: 'vmdk-stream', qemu: ['-O', 'vmdk', '-o', 'subformat=streamOptimized'], ext: 'vmdk' },
  { name: 'vhdx→raw', src: 'vhdx', to: 'raw', qemu: ['-O', 'raw'], ext: 'raw' },
  { name: 'vmdk-stream→raw', src: 'vmdk-stream', to: 'raw', qemu: ['-O', 'raw'], ext: 'raw' },
];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function makeSource(path: string): Promise<void> {
  // 50% of the 1 MiB slots get random data, chosen at random; the rest stay holes.
  const fh = await open(path, 'w');
  await fh.truncate(SIZE);
  const pool = randomBytes(64 * MiB);
  const slots = SIZE / MiB;
  const order = Array.from({ length: slots }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const chosen = order.slice(0, slots / 2).sort((a, b) => a - b);
  for (let k = 0; k < chosen.length; k++) {
    const off = ((k * 7919) % 63) * MiB;
    await fh.write(pool, off, MiB, chosen[k]! * MiB);
  }
  await fh.close();
}

interface Timing {
  seconds: number;
  cpu: number;
  rssKiB: number;
}

async function timed(cmd: string, args: string[]): Promise<Timing> {
  await settle();
  const r = await execa('/usr/bin/time', ['-f', '%e %U %S %M', cmd, ...args], { reject: false, cwd: ROOT, env: { UV_THREADPOOL_SIZE: '16' } });
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const [e, u, s, m] = String(r.stderr).trim().split('\n').pop()!.split(' ').map(Number);
  return { seconds: e!, cpu: u! + s!, rssKiB: m! };
}

async function main(): Promise<void> {
  const only = process.env.CE_BENCH_PAIRS?.split(',');
  const pairs = PAIRS.filter((p) => !only || only.includes(p.name) || only.includes(p.to));
  if (!existsSync(join(ROOT, 'dist/ce-server/cli/main.js')) || process.env.CE_BENCH_BUILD !== '0') {
    process.stderr.write('building dist/ (npm run build)…\n');
    await execa('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  }
  const dir = await mkdtemp(join(process.env.CE_BENCH_DIR ?? '/var/tmp', 'ce-bench-'));
  try {
    const raw = join(dir, 'src.raw');
    process.stderr.write(`making a ${SIZE / MiB} MiB raw source, 50% random data in 1 MiB runs…\n`);
    await makeSource(raw);
    const sources: Record<string, string> = { raw };
    const rows: string[][] = [];
    for (const p of pairs) {
      if (!sources[p.src]) {
        const path = join(dir, `src.${p.src}`);
        const args = p.src === 'vhdx' ? ['-O', 'vhdx'] : ['-O', 'vmdk', '-o', 'subformat=streamOptimized'];
        await execa('qemu-img', ['convert', '-f', 'raw', ...args, raw, path]);
        sources[p.src] = path;
      }
      const src = sources[p.src]!;
      const qfmt = p.src === 'raw' ? 'raw' : p.src === 'vhdx' ? 'vhdx' : 'vmdk';
      const runs = p.to === 'vmdk-stream' ? Math.min(RUNS, 2) : RUNS;
      const t: Record<'ce' | 'ceSync' | 'qe' | 'qeSync', Timing[]> = { ce: [], ceSync: [], qe: [], qeSync: [] };
      let rss = 0;
      const out = join(dir, `out-ce.${p.ext}`);
      const outQ = join(dir, `out-q.${p.ext}`);
      const ceArgs = [join(ROOT, 'dist/ce-server/cli/main.js'), 'convert', src, out, '--to', p.to, '--overwrite'];
      const qArgs = ['convert', '-f', qfmt, ...p.qemu, src, outQ];
      for (let i = 0; i < runs; i++) {
        const runCe = async (sync: boolean) => {
          const a = await timed(process.execPath, sync ? ceArgs : [...ceArgs, '--no-fsync']);
          t[sync ? 'ceSync' : 'ce'].push(a);
          rss = Math.max(rss, a.rssKiB);
          await rm(out, { force: true });
        };
        const runQemu = async (sync: boolean) => {
          const b = sync ? await timed('sh', ['-c', 'qemu-img "$@" && sync "$0"', outQ, ...qArgs]) : await timed('qemu-img', qArgs);
          t[sync ? 'qeSync' : 'qe'].push(b);
          await rm(outQ, { force: true });
        };
        // Alternate who goes first; each tool runs without the final fsync (qemu-img convert does
        // not fsync its output), then with it (ce's default: the output is durable before its
        // rename). So every run without fsync follows one with, and the other way round: measured
        // here, a run right after a --no-fsync run (whose 1 GiB of dirty pages was deleted unwritten)
        // was 3-4x slower than one after a synced run, whichever tool it was.
        const order = i % 2 === 0 ? [runCe, runQemu] : [runQemu, runCe];
        for (const run of order) {
          await run(false);
          await run(true);
        }
        process.stderr.write(`${p.name} run ${i + 1}: ce ${t.ce.at(-1)!.seconds}s / ${t.ceSync.at(-1)!.seconds}s with fsync (${Math.round(rss / 1024)} MiB RSS), qemu-img ${t.qe.at(-1)!.seconds}s / ${t.qeSync.at(-1)!.seconds}s with sync\n`);
      }
      const med = (k: keyof typeof t) => median(t[k].map((x) => x.seconds));
      const best = (k: keyof typeof t) => Math.min(...t[k].map((x) => x.seconds));
      const cpu = (k: keyof typeof t) => median(t[k].map((x) => x.cpu));
      const [mc, mcs, mq, mqs] = [med('ce'), med('ceSync'), med('qe'), med('qeSync')];
      rows.push([
        p.name,
        mc.toFixed(2),
        mq.toFixed(2),
        (mc / mq).toFixed(2),
        (best('ce') / best('qe')).toFixed(2),
        mcs.toFixed(2),
        mqs.toFixed(2),
        (mcs / mqs).toFixed(2),
        `${cpu('ce').toFixed(2)} / ${cpu('qe').toFixed(2)}`,
        String(Math.round(rss / 1024)),
        `${(SIZE / MiB / 2 / mc).toFixed(0)} MiB/s of data`,
      ]);
    }
    const head = ['pair', 'ce s', 'qemu-img s', 'ratio', 'ratio of bests', 'ce+fsync s', 'qemu-img+sync s', 'ratio (durable)', 'CPU s ce / qemu-img', 'ce max RSS MiB', 'note'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
    console.log(`\nce convert vs qemu-img convert, ${SIZE / MiB} MiB raw (50% data), ${RUNS} rounds (2 for raw→vmdk-stream), ${new Date().toISOString()}`);
    console.log(line(head));
    console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
    for (const r of rows) console.log(line(r));
    console.log('medians (bests: the fastest run of each); ratio = ce/qemu-img. "ce s" uses --no-fsync like qemu-img; "durable" adds fsync to both; CPU = user + system, medians.');
    console.log('targets: ratio ≤ 1.0 (≤ 0.8 vmdk-stream), RSS ≤ 256 MiB');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
