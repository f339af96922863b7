/**
 * `npm run bench:vda`: staging one installer (hash + copy, vda/staging.ts) vs the reference
 * `sha256sum <src> && cp <src> <dst>` on the same file, side by side, 3 runs. Prints MB/s and the
 * ratio. Default 512 MiB of random data in /dev/shm when it has room (CE_BENCH_SIZE_MIB, CE_BENCH_RUNS).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { LocalComponentSource, stageComponents } from '../../vda/staging.js';

const MiB = 1024 * 1024;

async function main(): Promise<void> {
  const size = Number(process.env.CE_BENCH_SIZE_MIB ?? 512) * MiB;
  const runs = Number(process.env.CE_BENCH_RUNS ?? 3);
  const shm = await statfs('/dev/shm').catch(() => undefined);
  const base = process.env.CE_TEST_TMP ?? (shm && shm.bavail * shm.bsize > 3 * size ? '/dev/shm' : tmpdir());
  const dir = await mkdtemp(join(base, 'ce-bench-vda-'));
  try {
    const srcDir = join(dir, 'src');
    await execa('mkdir', ['-p', srcDir]);
    const file = join(srcDir, 'PVS_Device_x64.exe');
    const fh = await open(file, 'w');
    const hash = createHash('sha256');
    for (let off = 0; off < size; off += 16 * MiB) {
      const b = randomBytes(Math.min(16 * MiB, size - off));
      hash.update(b);
      await fh.write(b);
    }
    await fh.close();
    const digest = hash.digest('hex');
    await writeFile(join(srcDir, 'manifest.json'), JSON.stringify({ files: { 'PVS_Device_x64.exe': digest } }));
    const rows: Array<{ run: number; ce: number; ref: number }> = [];
    for (let run = 1; run <= runs; run++) {
      const vol = join(dir, `vol${run}`);
      const t0 = performance.now();
      await stageComponents(new LocalComponentSource(srcDir), [{ component: 'pvs', file: 'PVS_Device_x64.exe' }], { files: { 'PVS_Device_x64.exe': digest } }, vol);
      const ce = (performance.now() - t0) / 1000;
      await rm(vol, { recursive: true, force: true });
      const dst = join(dir, `ref${run}`);
      const t1 = performance.now();
      await execa('sh', ['-c', 'sha256sum "$0" >/dev/null && cp "$0" "$1" && sync -f "$1"', file, dst]);
      const ref = (performance.now() - t1) / 1000;
      await rm(dst, { force: true });
      rows.push({ run, ce, ref });
    }
    const mbs = (s: number) => (size / MiB / s).toFixed(0);
    console.log(`staging ${size / MiB} MiB (${base}): ce stageComponents vs sha256sum+cp`);
    console.log('run | ce MB/s | ref MB/s | ratio');
    for (const r of rows) console.log(`${r.run}   | ${mbs(r.ce).padStart(7)} | ${mbs(r.ref).padStart(8)} | ${(r.ref / r.ce).toFixed(2)}x`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
