/**
 * The disk CLI through the real `ce` entry point, and the `convert`/`inspect` job types run with
 * a real JobContext-shaped object (no tools mocked).
 */
import t from 'tap';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { tempDir } from '../helpers/tmp.js';
import { runCe, json } from '../helpers/cli.js';
import { makeSparseRaw, md5File, qemuCompare } from '../helpers/disk-images.js';
import { convertJob } from '../../disk/jobs.js';
import { inspectImageJob } from '../../ce-server/jobs/inspect-image.js';
import { silentLogger } from '../../core/logger.js';
import type { JobContext } from '../../core/job-type.js';
import type { Progress } from '../../core/progress.js';

const MiB = 1 << 20;

t.test('the CLI choice lists match the registry', async (t) => {
  const { TARGETS, PRESETS } = await import('../../disk/cli.js');
  const { targets } = await import('../../disk/formats.js');
  const { presets } = await import('../../disk/presets.js');
  t.same([...TARGETS].sort(), targets().sort());
  t.same(PRESETS, presets.map((p) => p.name));
});

t.test('ce convert / info / check / compare', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src.raw');
  await makeSparseRaw(src, 6 * MiB, 4, 21);
  const conv = await runCe(['convert', src, join(dir, 'o.vhd'), '--to', 'vhd', '--hash', 'md5,sha256', '--json']);
  t.equal(conv.exitCode, 0, conv.stderr);
  const lines = conv.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const result = lines.find((l) => l.event === 'result');
  t.ok(lines.some((l) => l.event === 'progress'), 'JSON progress lines');
  t.equal(result.hashes.md5, await md5File(join(dir, 'o.vhd')), 'md5 printed');
  t.match(result.hashes.sha256, /^[0-9a-f]{64}$/);

  const info = json<{ format: string; subformat: string; virtualSize: number; problems: unknown[] }>(await runCe(['info', join(dir, 'o.vhd'), '--json']));
  t.match(info, { format: 'vhd', subformat: 'dynamic', virtualSize: 6 * MiB, problems: [] });
  const broken = await readFile(join(dir, 'o.vhd'));
  await writeFile(join(dir, 'cut.vhd'), broken.subarray(0, broken.length - 512));
  const chk = await runCe(['check', join(dir, 'cut.vhd'), '--json']);
  t.equal(chk.exitCode, 3, 'problems: exit 3');
  t.match(json(chk), { ok: false, problems: [{ code: 'VHD_FOOTER_END_MISSING' }] });

  t.equal((await runCe(['compare', src, join(dir, 'o.vhd')])).exitCode, 0);
  const other = await readFile(src);
  other[5 * MiB + 77]! ^= 0xff;
  await writeFile(join(dir, 'other.raw'), other);
  const cmp = await runCe(['compare', join(dir, 'o.vhd'), join(dir, 'other.raw'), '--json']);
  t.equal(cmp.exitCode, 3, 'different: exit 3');
  t.match(json(cmp), { identical: false, firstDifference: 5 * MiB + 77 });

  const exists = await runCe(['convert', src, join(dir, 'o.vhd'), '--to', 'vhd']);
  t.equal(exists.exitCode, 1);
  t.match(exists.stderr, /OUTPUT_EXISTS/);
  const bad = await runCe(['convert', src, join(dir, 'p.vhd'), '--preset', 'azure', '--to', 'vhd', '--json']);
  t.match(json(bad), { error: { code: 'DISK_PRESET_VIOLATION' } });
});

t.test('ce convert to stdout (a non-seekable sink: metadata first, then data)', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src.raw');
  await makeSparseRaw(src, 9 * MiB, 5, 22);
  const { execa } = await import('execa');
  const { ROOT } = await import('../helpers/cli.js');
  const { createWriteStream } = await import('node:fs');
  const out = createWriteStream(join(dir, 'piped.vhd'));
  const p = execa(process.execPath, ['--import', 'tsx', `${ROOT}ce-server/cli/main.ts`, 'convert', src, '-', '--to', 'vhd'], { cwd: ROOT, stdout: 'pipe', encoding: 'buffer' });
  p.stdout!.pipe(out);
  await p;
  await new Promise((r) => out.close(r));
  t.equal((await qemuCompare(src, 'raw', join(dir, 'piped.vhd'), 'vpc')).code, 0, 'qemu-img compare on the piped VHD');
});

function ctx<O>(options: O, extra: Partial<JobContext<O>> = {}): JobContext<O> & { seen: Progress[] } {
  const seen: Progress[] = [];
  let cp: Record<string, unknown> | undefined;
  return {
    jobId: 'j1', options, dryRun: false, signal: new AbortController().signal, progress: (p) => seen.push(p), step: () => undefined,
    log: silentLogger, workDir: '/tmp', checkpoint: { get: () => cp, save: async (s) => { cp = s; } }, seen, ...extra,
  };
}

t.test('convert job with progress; inspect job uses the disk engine', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src.raw');
  await makeSparseRaw(src, 5 * MiB, 3, 23);
  const c = ctx({ source: { kind: 'file' as const, path: src }, destination: { path: join(dir, 'j.vhd') }, to: 'vhd-fixed', hash: ['md5' as const] });
  const r = await convertJob.run(c);
  t.ok('output' in r && r.output.fileSize === 5 * MiB + 512);
  t.ok(c.seen.length > 0, 'progress reported');
  t.equal((await qemuCompare(src, 'raw', join(dir, 'j.vhd'), 'vpc')).code, 0);
  const i = await inspectImageJob.run(ctx({ source: { kind: 'file' as const, path: join(dir, 'j.vhd') } }));
  t.match(i, { format: 'vhd', subformat: 'fixed', virtualSize: 5 * MiB, fileSize: 5 * MiB + 512 });
  const ac = new AbortController();
  ac.abort();
  await t.rejects(convertJob.run(ctx({ source: { kind: 'file' as const, path: src }, destination: { path: join(dir, 'k.vhd') }, to: 'vhd' }, { signal: ac.signal })), { code: 'CANCELLED' });
});
