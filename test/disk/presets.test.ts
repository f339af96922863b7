/**
 * Platform presets, checked before writing: Azure (fixed VHD, whole MiB, file = size + 512, exact
 * size in the footer), GCP (disk.raw in a .tar.gz, whole GiB), XenServer (dynamic VHD), AWS
 * (VHD or streamOptimized VMDK); violations name the rule.
 */
import t from 'tap';
import { join } from 'node:path';
import { readFile, readdir, stat } from 'node:fs/promises';
import { tempDir } from '../helpers/tmp.js';
import { makeSparseRaw, qemuCompare, qemuInfo } from '../helpers/disk-images.js';
import { runTool } from '../../core/tools.js';
import { convert, planConversion } from '../../disk/convert/engine.js';
import { openDisk } from '../../disk/open.js';
import { parseFooter } from '../../disk/vhd/footer.js';
import { isZero } from '../../disk/zero.js';

const MiB = 1 << 20;

t.test('azure: fixed VHD rounded up to whole MiB, file = size + 512, exact size in the footer', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src.raw');
  await makeSparseRaw(src, 10 * MiB + 4096, 4, 8);
  const r = await convert(src, join(dir, 'azure.vhd'), { preset: 'azure', hash: ['md5'] });
  t.equal(r.output.target, 'vhd-fixed');
  t.equal(r.output.virtualSize, 11 * MiB);
  t.match(r.notes.join(), /rounded up/);
  const st = await stat(join(dir, 'azure.vhd'));
  t.equal(st.size, 11 * MiB + 512, 'file = size + 512 (az disk create --upload-size-bytes)');
  const buf = await readFile(join(dir, 'azure.vhd'));
  const f = parseFooter(buf.subarray(buf.length - 512), 'azure.vhd');
  t.equal(f.currentSize, 11 * MiB, 'exact size in the footer');
  t.equal(f.type, 'fixed');
  t.equal((await qemuInfo(join(dir, 'azure.vhd'), 'vpc'))['virtual-size'], 11 * MiB);
  t.equal((await qemuCompare(src, 'raw', join(dir, 'azure.vhd'), 'vpc')).code, 0, 'same content, zero tail');
  await t.rejects(convert(src, join(dir, 'a2.vhd'), { preset: 'azure', to: 'vhd' }), { code: 'DISK_PRESET_VIOLATION', details: { rule: 'azure.format' } });
  t.notOk((await readdir(dir)).includes('a2.vhd.partial'), 'checked before writing');
});

t.test('gcp: whole GiB and a .tar.gz for .tar.gz names (plan, checked before writing)', async (t) => {
  const dir = await tempDir(t);
  await makeSparseRaw(join(dir, 'src.raw'), 3 * MiB, 1, 9);
  const disk = await openDisk(join(dir, 'src.raw'));
  const plan = planConversion(disk, join(dir, 'image.tar.gz'), { preset: 'gcp' });
  await disk.close();
  t.equal(plan.writer.target, 'raw');
  t.equal(plan.writerOptions.virtualSize, 1 << 30, 'rounded up to 1 GiB');
  t.ok(plan.tarGz, 'disk.raw in a .tar.gz');
});

t.test('disk.raw in a .tar.gz (the GCP container), hashed while streaming', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src.raw');
  await makeSparseRaw(src, 3 * MiB + 512, 3, 9);
  const r = await convert(src, join(dir, 'image.tar.gz'), { to: 'raw', tarGz: true, hash: ['sha256'] });
  t.equal(r.output.format, 'tar.gz');
  t.equal(r.hashMode, 'stream');
  const list = await runTool('tar', ['-tvzf', join(dir, 'image.tar.gz')]);
  t.match(list.stdout, /disk\.raw/);
  // Stream the member out of GNU tar and check it: the source bytes, then zeros up to 1 GiB.
  const want = await readFile(src);
  const { execa } = await import('execa');
  const child = execa('tar', ['-xzOf', join(dir, 'image.tar.gz'), 'disk.raw'], { encoding: 'buffer', buffer: false });
  let pos = 0;
  let same = true;
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    const head = Math.max(0, Math.min(chunk.length, want.length - pos));
    if (head && !chunk.subarray(0, head).equals(want.subarray(pos, pos + head))) same = false;
    if (!isZero(chunk.subarray(head))) same = false;
    pos += chunk.length;
  }
  await child;
  t.equal(pos, 3 * MiB + 512, 'disk.raw has the virtual size');
  t.ok(same, 'disk.raw = the source bytes');
  const sha = (await runTool('sha256sum', [join(dir, 'image.tar.gz')])).stdout.split(' ')[0];
  t.equal(r.hashes?.sha256, sha, 'sha256 while streaming = sha256sum of the .tar.gz');
});

t.test('xenserver, aws, nutanix, vsphere, hyperv targets', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src.raw');
  await makeSparseRaw(src, 4 * MiB, 2, 10);
  t.equal((await convert(src, join(dir, 'x.vhd'), { preset: 'xenserver' })).output.subformat, 'dynamic');
  t.equal((await convert(src, join(dir, 'aws.vhd'), { preset: 'aws', to: 'vhd' })).output.target, 'vhd');
  await t.rejects(convert(src, join(dir, 'x2.vhd'), { preset: 'xenserver', to: 'vhd-fixed' }), { code: 'DISK_PRESET_VIOLATION', details: { rule: 'xenserver.format' } });
  await t.rejects(convert(src, join(dir, 'n.vhd'), { preset: 'nutanix', to: 'vhd' }), { code: 'DISK_PRESET_VIOLATION', details: { rule: 'nutanix.format' } });
  t.equal((await convert(src, join(dir, 'n.raw'), { preset: 'nutanix', to: 'raw' })).output.target, 'raw');
  for (const [preset, target] of [['vsphere', 'vmdk-stream'], ['hyperv', 'vhdx']] as const) {
    const r = await convert(src, join(dir, `${preset}.out`), { preset });
    t.equal(r.output.target, target, `${preset} → ${target}`);
  }
  await t.rejects(convert(src, join(dir, 'u.vhd'), { preset: 'nope' }), { code: 'DISK_PRESET_UNKNOWN' });
});

t.test('tar headers: octal sizes below 8 GiB, GNU base-256 above (OVA/GCP tar of big disks)', async (t) => {
  const { tarHeader } = await import('../../disk/convert/tar-gz-sink.js');
  const small = tarHeader('disk.raw', 3 * MiB + 512, 0);
  t.equal(small.toString('latin1', 124, 135), (3 * MiB + 512).toString(8).padStart(11, '0'));
  const big = 10 * 1024 * MiB;
  const h = tarHeader('disk.raw', big, 0);
  t.equal(h[124], 0x80, 'base-256 marker');
  t.equal(Number(h.readBigUInt64BE(128)), big, 'size in the low bytes, big-endian');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  t.equal(parseInt(h.toString('latin1', 148, 154), 8), sum, 'header checksum');
  t.equal(h.toString('latin1', 0, 8), 'disk.raw');
});
