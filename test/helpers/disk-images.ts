/** Random sparse raw images and qemu-img helpers for the disk tests (qemu-img is the oracle). */
import { open, readFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { runTool } from '../../core/tools.js';

/** xorshift32: reproducible layouts from a seed. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

/**
 * A sparse raw file of `size` bytes with `runs` random-data runs of 512 B–3 MiB at random
 * (sector-aligned) places, the rest holes. Returns the written ranges.
 */
export async function makeSparseRaw(path: string, size: number, runs: number, seed = 1): Promise<Array<[number, number]>> {
  const r = rng(seed);
  const fh = await open(path, 'w');
  const ranges: Array<[number, number]> = [];
  try {
    await fh.truncate(size);
    for (let i = 0; i < runs && size >= 512; i++) {
      const len = Math.min(size, 512 * (1 + Math.floor(r() * 6144)));
      const off = Math.floor((r() * (size - len)) / 512) * 512;
      await fh.write(randomBytes(len), 0, len, off);
      ranges.push([off, len]);
    }
  } finally {
    await fh.close();
  }
  return ranges;
}

export async function md5File(path: string): Promise<string> {
  return createHash('md5').update(await readFile(path)).digest('hex');
}

/** `qemu-img compare` exit code: 0 identical, 1 different, 2 error. */
export async function qemuCompare(a: string, fa: string, b: string, fb: string): Promise<{ code: number; out: string }> {
  const r = await runTool('qemu-img', ['compare', '-f', fa, '-F', fb, a, b], { allowFailure: true });
  return { code: r.exitCode, out: r.stdout + r.stderr };
}

export async function qemuInfo(path: string, fmt?: string): Promise<{ format: string; 'virtual-size': number; 'actual-size'?: number }> {
  const r = await runTool('qemu-img', ['info', '--output=json', ...(fmt ? ['-f', fmt] : []), path]);
  return JSON.parse(r.stdout);
}

export async function qemuImg(args: string[]): Promise<void> {
  await runTool('qemu-img', args);
}
