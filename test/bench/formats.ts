/**
 * Micro benchmark of the VHDX/VMDK/qcow2 writers and readers against `qemu-img convert`, side by
 * side on the same ~1 GiB raw image (50% random data in scattered 1 MiB runs, the rest holes).
 * 3 runs each, median wall and CPU seconds (user+sys; the fair figure on a shared machine), ratio
 * ce/qemu-img, ce's max RSS. Our side runs in a child process
 * (UV_THREADPOOL_SIZE=16, §6.3.5); its time excludes Node/tsx start-up (~0.4 s), qemu-img's includes
 * its own (~10 ms). Run: `npx tsx test/bench/formats.ts [sizeMiB]`. Never part of `npm test`.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { closeSync, openSync } from 'node:fs';
import { FileSink, FileSource } from '../../disk/io/file.js';
import type { Disk, DiskFormatModule } from '../../disk/types.js';
import { vhdxFormat } from '../../disk/vhdx/index.js';
import { vmdkFormat } from '../../disk/vmdk/index.js';
import { qcow2Format } from '../../disk/qcow2/index.js';
import { BufferPool, mapOrdered } from '../../disk/format-kit/ordered.js';
import { isZero } from '../../disk/format-kit/zero.js';
import { WriteWindow } from '../../disk/format-kit/write-window.js';

const MiB = 1024 * 1024;
const MODULES: DiskFormatModule[] = [vhdxFormat, vmdkFormat, qcow2Format];
const SELF = fileURLToPath(import.meta.url);

/**
 * The data extents of a local file (lseek SEEK_DATA/SEEK_HOLE through fs-ext), as the engine's raw
 * Disk does (disk-core disk/raw/extents.ts): qemu-img skips holes the same way, so both sides read
 * the same bytes.
 */
function dataBlocks(path: string, size: number): number[] {
  const require = createRequire(import.meta.url);
  const { seekSync } = require('fs-ext') as { seekSync(fd: number, pos: number, whence: number): number };
  const fd = openSync(path, 'r');
  const out = new Set<number>();
  try {
    for (let pos = 0; pos < size; ) {
      let data: number;
      try { data = seekSync(fd, pos, 3); } catch { break; } // SEEK_DATA; ENXIO past the last data
      const hole = seekSync(fd, data, 4); // SEEK_HOLE
      for (let b = Math.floor(data / MiB); b * MiB < hole; b++) out.add(b);
      pos = hole;
    }
  } finally {
    closeSync(fd);
  }
  return [...out].sort((a, b) => a - b);
}

function rawDisk(src: FileSource): Disk {
  const blocks = dataBlocks(src.name, src.size);
  return {
    format: 'raw', subformat: 'raw', virtualSize: src.size, blockSize: MiB, source: src,
    async *blocks() { yield* blocks; },
    async read(offset, length, buf) {
      const out = buf ? buf.subarray(0, length) : Buffer.alloc(length);
      const n = await src.pread(out, offset);
      out.fill(0, n);
      return out;
    },
    describe: () => ({ format: 'raw', subformat: 'raw', virtualSize: src.size, fileSize: src.size, blockSize: MiB, problems: [] }),
    close: () => src.close(),
  };
}

/** Child mode: one conversion, prints {ms, rssMiB}. */
async function child(mode: string, target: string, srcPath: string, dst: string): Promise<void> {
  const t0 = performance.now();
  const c0 = process.cpuUsage(); // the whole process: main thread, libuv pool and deflate workers
  if (mode === 'write') {
    const mod = MODULES.find((m) => m.writers.some((w) => w.target === target))!;
    const w = mod.writers.find((x) => x.target === target)!;
    const src = rawDisk(await FileSource.open(srcPath));
    const sink = await FileSink.open(dst);
    // extra.sparse: what the engine sets for local files (holes allowed, like qemu-img's outputs).
    await w.write(src, sink, { outputPath: dst, createSink: (n) => FileSink.open(join(dst, '..', n)), extra: { sparse: true } }, { inFlight: 8 });
    await sink.close();
    await src.close();
  } else {
    const fsrc = await FileSource.open(srcPath);
    const head = Buffer.alloc(65536);
    await fsrc.pread(head, 0);
    const mod = MODULES.find((m) => m.probe(head, Buffer.alloc(0), fsrc.size))!;
    const d = await mod.open(fsrc, { depth: 0, openRelated: (n) => FileSource.open(join(srcPath, '..', n)), openParent: () => { throw new Error('no parent'); } });
    const out = await FileSink.open(dst);
    const unit = 4 * MiB;
    const pool = new BufferPool(unit);
    const flags = new Uint8Array(Math.ceil(d.virtualSize / unit));
    for await (const b of d.blocks()) {
      const s = Math.floor((b * d.blockSize) / unit), e = Math.floor(Math.min(d.virtualSize - 1, (b + 1) * d.blockSize - 1) / unit);
      for (let u = s; u <= e; u++) flags[u] = 1;
    }
    const list = (function* () { for (let u = 0; u < flags.length; u++) if (flags[u]) yield u; })();
    const win = new WriteWindow(out, 8);
    // Like the engine's raw writer (and qemu-img -S 4k): zero detection per 64 KiB, only data is written.
    const piece = 64 * 1024;
    for await (const { u, buf } of mapOrdered(list, 8, async (u) => {
      const len = Math.min(unit, d.virtualSize - u * unit);
      return { u, buf: await d.read(u * unit, len, pool.get()) };
    })) {
      const writes: Promise<void>[] = [];
      let from = -1;
      for (let at = 0; at <= buf.length; at += piece) {
        const zero = at === buf.length || isZero(buf.subarray(at, Math.min(at + piece, buf.length)));
        if (!zero && from < 0) from = at;
        if (zero && from >= 0) {
          writes.push((await win.write(buf.subarray(from, at), u * unit + from)).done);
          from = -1;
        }
      }
      void Promise.all(writes).then(() => pool.put(buf));
    }
    await win.drain();
    await out.truncate(d.virtualSize);
    await out.close();
    await d.close();
  }
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  process.stdout.write(JSON.stringify({ ms, cpuS: (c.user + c.system) / 1e6, rssMiB: process.resourceUsage().maxRSS / 1024 }) + '\n');
}

async function timeIt(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const sizeMiB = Number(process.argv[2] ?? 1024);
  const dir = await mkdtemp(join(process.env.CE_BENCH_TMP ?? tmpdir(), 'ce-bench-formats-'));
  try {
    const raw = join(dir, 'src.raw');
    const fh = await open(raw, 'w');
    await fh.truncate(sizeMiB * MiB);
    // 50% random data in scattered 1 MiB runs (a deterministic pattern: every other run, shuffled pairs).
    for (let i = 0; i < sizeMiB; i += 2) await fh.write(randomBytes(MiB), 0, MiB, (i + (Math.random() < 0.5 ? 0 : 1)) * MiB);
    await fh.close();
    const cases: { name: string; mode: 'write' | 'read'; target: string; qemu: string[]; from?: string }[] = [
      { name: 'raw→vhdx', mode: 'write', target: 'vhdx', qemu: ['-O', 'vhdx', '-m', '8', '-W'] },
      { name: 'raw→vhdx-fixed', mode: 'write', target: 'vhdx-fixed', qemu: ['-O', 'vhdx', '-o', 'subformat=fixed', '-m', '8', '-W'] },
      { name: 'raw→vmdk', mode: 'write', target: 'vmdk', qemu: ['-O', 'vmdk', '-m', '8', '-W'] },
      { name: 'raw→vmdk-stream', mode: 'write', target: 'vmdk-stream', qemu: ['-O', 'vmdk', '-o', 'subformat=streamOptimized'] },
      { name: 'raw→vmdk-flat', mode: 'write', target: 'vmdk-flat', qemu: ['-O', 'vmdk', '-o', 'subformat=monolithicFlat', '-m', '8', '-W'] },
      { name: 'raw→qcow2', mode: 'write', target: 'qcow2', qemu: ['-O', 'qcow2', '-m', '8', '-W'] },
      { name: 'vhdx→raw', mode: 'read', target: 'raw', from: 'vhdx', qemu: ['-O', 'raw', '-m', '8', '-W'] },
      { name: 'vmdk-stream→raw', mode: 'read', target: 'raw', from: 'vmdk-stream', qemu: ['-O', 'raw', '-m', '8', '-W'] },
      { name: 'qcow2→raw', mode: 'read', target: 'raw', from: 'qcow2', qemu: ['-O', 'raw', '-m', '8', '-W'] },
    ];
    const rows: string[][] = [['case', 'ce s', 'qemu-img s', 'ratio', 'ce cpu s', 'qemu cpu s', 'cpu ratio', 'ce max RSS MiB', 'ce MiB', 'qemu MiB']];
    for (const c of cases) {
      const src = c.from ? join(dir, `ref-${c.from}.img`) : raw;
      if (c.from) {
        const made = await execa(process.execPath, ['--import', 'tsx', SELF, '--child', 'write', c.from, raw, src], { env: { UV_THREADPOOL_SIZE: '16' } });
        if (made.exitCode) throw new Error(made.stderr);
      }
      const ce: number[] = [], qe: number[] = [], rss: number[] = [], ceCpu: number[] = [], qCpu: number[] = [];
      let ceSize = 0, qSize = 0;
      for (let r = 0; r < 3; r++) {
        const out = join(dir, `ce-${r}.out`);
        const res = await execa(process.execPath, ['--import', 'tsx', SELF, '--child', c.mode, c.target, src, out], { env: { UV_THREADPOOL_SIZE: '16' } });
        const j = JSON.parse(String(res.stdout).trim().split('\n').pop()!);
        ce.push(j.ms / 1000);
        ceCpu.push(j.cpuS);
        rss.push(j.rssMiB);
        ceSize = (await stat(out)).size;
        await rm(out, { force: true });
        const qout = join(dir, `q-${r}.out`);
        const tf = join(dir, 'time.txt');
        qe.push((await timeIt(async () => { await execa('/usr/bin/time', ['-f', '%U %S', '-o', tf, 'qemu-img', 'convert', ...c.qemu, src, qout]); })) / 1000);
        const [u, sy] = (await readFile(tf, 'utf8')).trim().split(/\s+/).map(Number);
        qCpu.push(u + sy);
        qSize = (await stat(qout)).size;
        await execa('sh', ['-c', `rm -f ${dir}/*.out ${dir}/*-flat.vmdk`]);
      }
      const m = median(ce), q = median(qe), mc = median(ceCpu), qc = median(qCpu);
      rows.push([c.name, m.toFixed(2), q.toFixed(2), (m / q).toFixed(2), mc.toFixed(2), qc.toFixed(2), (mc / Math.max(qc, 0.01)).toFixed(2), Math.max(...rss).toFixed(0), (ceSize / MiB).toFixed(0), (qSize / MiB).toFixed(0)]);
      console.error(rows[rows.length - 1].join('  '));
    }
    const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    const { loadavg } = await import('node:os');
    console.log(`\nformats bench: ${sizeMiB} MiB raw, 50% random data in 1 MiB runs, 3 runs, median; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
    for (const r of rows) console.log(r.map((x, i) => x.padEnd(w[i])).join(' | '));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child(process.argv[3], process.argv[4], process.argv[5], process.argv[6]);
else await main();
