/**
 * `npm run bench:hive`: open SYSTEM_2, read every value, set 100 values, save — with our
 * disk/hive and with hivexsh (one process, script on stdin), side by side.
 * Target: ours ≤ 2× hivexsh, RSS ≤ 128 MiB. Our part runs in a child process so its peak RSS
 * is its own (node + tsx included).
 */
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hive } from '../../disk/hive/hive.js';
import { REG } from '../../disk/hive/types.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SYSTEM = join(ROOT, '../shared/fixtures/hives/SYSTEM_2');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

/** The measured work with our library; prints JSON {ms, values, rssMiB}. */
async function ours(out: string): Promise<void> {
  const t0 = performance.now();
  const h = await Hive.open(SYSTEM, { acceptDirty: true });
  let values = 0;
  let bytes = 0;
  const stack = [h.root];
  while (stack.length) {
    const k = stack.pop()!;
    for (const v of k.values()) {
      values++;
      bytes += v.raw.length;
    }
    stack.push(...k.subkeys());
  }
  const sel = h.key('Select')!;
  for (let i = 0; i < 100; i++) sel.setValue(`Bench${i}`, i % 2 ? REG.DWORD : REG.SZ, i % 2 ? i : `value ${i}`);
  await h.save({ path: out, noBackup: true });
  const ms = performance.now() - t0;
  process.stdout.write(JSON.stringify({ ms, values, bytes, rssMiB: process.resourceUsage().maxRSS / 1024 }) + '\n');
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return ours(process.argv[3]!);
  const dir = await mkdtemp(join(tmpdir(), 'ce-bench-hive-'));
  try {
    // the key list for hivexsh's script comes from our reader (not timed)
    const h = await Hive.open(SYSTEM, { acceptDirty: true });
    const paths: string[] = [];
    const stack = [h.root];
    while (stack.length) {
      const k = stack.pop()!;
      paths.push(k.path);
      stack.push(...k.subkeys());
    }
    const lines: string[] = [];
    for (const p of paths) lines.push(`cd \\${p}`, 'lsval');
    lines.push('cd \\Select', 'setval 100');
    for (let i = 0; i < 100; i++) lines.push(`Bench${i}`, i % 2 ? `dword:${i}` : `string:value ${i}`);
    lines.push(`commit ${join(dir, 'hivex.out')}`, 'quit');
    const script = join(dir, 'script.txt');
    await writeFile(script, lines.join('\n') + '\n');

    const rows: { ours: number; hivex: number; rss: number; hivexRss: number }[] = [];
    for (let r = 0; r < RUNS; r++) {
      const o = await execa(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', join(dir, `ours${r}.out`)], { cwd: ROOT });
      const res = JSON.parse(String(o.stdout).trim().split('\n').pop()!) as { ms: number; rssMiB: number; values: number };
      const t0 = performance.now();
      const hv = await execa('/usr/bin/time', ['-f', '%M', 'hivexsh', '-w', SYSTEM], { reject: false, stdout: 'ignore', inputFile: script });
      const hivexMs = performance.now() - t0;
      if (hv.exitCode !== 0) throw new Error(`hivexsh failed: ${String(hv.stderr).slice(-500)}`);
      const hivexRss = Number(String(hv.stderr).trim().split('\n').pop()) / 1024;
      rows.push({ ours: res.ms, hivex: hivexMs, rss: res.rssMiB, hivexRss });
      if (r === 0) console.log(`SYSTEM_2: ${paths.length} keys, ${res.values} values read; 100 values set; saved`);
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const o = med(rows.map((r) => r.ours));
    const x = med(rows.map((r) => r.hivex));
    const rss = Math.max(...rows.map((r) => r.rss));
    const xr = Math.max(...rows.map((r) => r.hivexRss));
    console.log('');
    console.log('| tool | time (median of %d) | peak RSS |', RUNS);
    console.log('|---|---|---|');
    console.log(`| ce disk/hive | ${o.toFixed(0)} ms | ${rss.toFixed(0)} MiB (node+tsx process) |`);
    console.log(`| hivexsh | ${x.toFixed(0)} ms (process incl.) | ${xr.toFixed(0)} MiB |`);
    console.log(`| ratio ours/hivexsh | ${(o / x).toFixed(2)}× (target ≤ 2×) | RSS ${rss <= 128 ? 'within' : 'OVER'} 128 MiB |`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
