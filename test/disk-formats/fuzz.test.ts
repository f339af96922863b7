/**
 * Fuzz the parsers with mutated copies of valid images: every open/read either works or throws a
 * typed CeError, never another exception, never a hang. VHDX headers and region tables get their
 * CRC-32C fixed after mutation so the mutation reaches the deeper parsers.
 */
import t from 'tap';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { isCeError } from '../../core/errors.js';
import { crc32cWithZeroField } from '../../disk/format-kit/crc32c.js';
import { tempDir } from '../helpers/tmp.js';
import { MiB, MODULES, makeSparseRaw, openImage, openRaw, qemuImg, writeWith } from './helpers.js';

const ROUNDS = Number(process.env.CE_FUZZ_ROUNDS ?? 30);

function rnd(n: number): number {
  return Math.floor(Math.random() * n);
}

/** Overwrite 1–8 random bytes (random values, or 0xff / 0x00 / large integers) inside [from, to). */
function mutate(b: Buffer, from: number, to: number): void {
  const n = 1 + rnd(8);
  for (let i = 0; i < n; i++) {
    const at = from + rnd(Math.max(1, Math.min(to, b.length) - from));
    const kind = rnd(4);
    if (kind === 0) b[at] = rnd(256);
    else if (kind === 1) b.fill(0xff, at, Math.min(b.length, at + 8));
    else if (kind === 2) b.fill(0, at, Math.min(b.length, at + 8));
    else b[at] ^= 1 << rnd(8);
  }
}

async function attempt(path: string): Promise<string | undefined> {
  const work = (async () => {
    const d = await openImage(path);
    try {
      let n = 0;
      for await (const _ of d.blocks()) if (++n > 20000) break;
      const len = Math.min(d.virtualSize, 8 * MiB);
      if (len > 0) await d.read(0, len);
      if (d.virtualSize > len) await d.read(d.virtualSize - 512, 512);
      d.describe();
    } finally {
      await d.close();
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((res) => { timer = setTimeout(() => res('hang (> 10 s)'), 10_000); });
  try {
    return await Promise.race([work.then(() => undefined), timeout]);
  } catch (e) {
    return isCeError(e) ? undefined : `non-typed error: ${(e as Error)?.stack ?? e}`;
  } finally {
    clearTimeout(timer);
  }
}

t.test('mutated and truncated images give typed errors, no crash, no hang', async (t) => {
  const dir = await tempDir(t);
  const raw = join(dir, 'src.raw');
  await makeSparseRaw(raw, 6 * MiB + 512, 5, MiB);
  const images: { name: string; regions: [number, number, (b: Buffer) => void][] }[] = [];
  const mk = async (mod: number, target: string, name: string) => {
    const src = await openRaw(raw);
    await writeWith(MODULES[mod], target, src, join(dir, name), { blockSize: target.startsWith('vhdx') ? MiB : undefined });
    await src.close();
  };
  const recrc = (off: number, size: number) => (b: Buffer) => b.writeUInt32LE(crc32cWithZeroField(b.subarray(off, off + size), 4), off + 4);
  await mk(0, 'vhdx', 'a.vhdx');
  images.push({ name: 'a.vhdx', regions: [
    [64 * 1024, 64 * 1024 + 80, recrc(64 * 1024, 4096)], [128 * 1024, 128 * 1024 + 80, recrc(128 * 1024, 4096)],
    [192 * 1024, 192 * 1024 + 80, recrc(192 * 1024, 65536)], [256 * 1024, 256 * 1024 + 80, recrc(256 * 1024, 65536)],
    [2 * MiB, 2 * MiB + 65536 + 256, () => undefined], [3 * MiB, 3 * MiB + 64, () => undefined], [0, 16, () => undefined],
  ] });
  await mk(1, 'vmdk', 'a.vmdk');
  images.push({ name: 'a.vmdk', regions: [[0, 80, () => undefined], [512, 2048, () => undefined], [21 * 512, 40 * 512, () => undefined]] });
  await mk(1, 'vmdk-stream', 's.vmdk');
  images.push({ name: 's.vmdk', regions: [[0, 80, () => undefined], [-1536, -1, () => undefined], [65536, 65536 + 64, () => undefined]] });
  await mk(2, 'qcow2', 'a.qcow2');
  images.push({ name: 'a.qcow2', regions: [[0, 112, () => undefined], [65536, 65536 + 64, () => undefined], [131072, 131072 + 256, () => undefined]] });
  await qemuImg(['convert', '-c', '-O', 'qcow2', raw, join(dir, 'c.qcow2')]);
  images.push({ name: 'c.qcow2', regions: [[0, 112, () => undefined], [196608, 196608 + 512, () => undefined]] });

  const failures: string[] = [];
  for (const img of images) {
    const orig = await readFile(join(dir, img.name));
    for (let r = 0; r < ROUNDS; r++) {
      const b = Buffer.from(orig);
      let copy = b;
      if (r % 10 === 9) copy = b.subarray(0, rnd(b.length)); // truncated
      else {
        const [from, to, fix] = img.regions[rnd(img.regions.length)];
        const f = from < 0 ? b.length + from : from, e = to < 0 ? b.length + to : to;
        mutate(b, f, e);
        if (rnd(4) !== 0) fix(b);
      }
      const p = join(dir, `m-${img.name}`);
      await writeFile(p, copy);
      const bad = await attempt(p);
      if (bad) {
        failures.push(`${img.name} round ${r}: ${bad}`);
        await writeFile(join(dir, `fail-${failures.length}-${img.name}`), copy);
      }
    }
  }
  t.same(failures, [], 'every mutated image opened or failed with a CeError');
});
