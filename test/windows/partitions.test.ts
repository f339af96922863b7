/** MBR/GPT parsing checked against sfdisk's own view of tables it wrote; corrupt tables give typed errors. */
import t from 'tap';
import { open, writeFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { crc32 } from 'node:zlib';
import { tempDir } from '../helpers/tmp.js';
import { readPartitionTable } from '../../disk/partitions/read-table.js';
import { FileSource } from '../../disk/io/file.js';
import type { PartitionTable } from '../../disk/partitions/types.js';

const MiB = 1024 * 1024;

async function disk(dir: string, name: string, sizeMiB: number, script: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, '');
  await truncate(p, sizeMiB * MiB);
  await execa('sfdisk', ['-q', p], { input: script });
  return p;
}

async function table(path: string): Promise<PartitionTable> {
  const src = await FileSource.open(path);
  try {
    return await readPartitionTable({ name: path, size: src.size, readAt: (o, l) => src.readExact(o, l) });
  } finally {
    await src.close();
  }
}

async function sfdiskView(path: string) {
  const r = await execa('sfdisk', ['-J', path]);
  return JSON.parse(r.stdout).partitiontable as { id: string; partitions: Array<{ start: number; size: number; type: string; uuid?: string; name?: string }> };
}

async function patch(path: string, offset: number, data: Buffer): Promise<void> {
  const fh = await open(path, 'r+');
  await fh.write(data, 0, data.length, offset);
  await fh.close();
}

t.test('MBR with primary, extended and logical partitions matches sfdisk', async (t) => {
  const dir = await tempDir(t);
  const p = await disk(dir, 'mbr.raw', 64, 'label: dos\nlabel-id: 0x12345678\nstart=2048, size=20480, type=7, bootable\nstart=22528, size=81920, type=5\nstart=24576, size=8192, type=7\nstart=34816, size=8192, type=83\n');
  const tb = await table(p);
  const ref = await sfdiskView(p);
  t.equal(tb.kind, 'mbr');
  t.equal(tb.diskSignature, '12345678');
  const mine = tb.partitions.filter((x) => x.kind !== 'extended').map((x) => [x.offset / 512, x.size / 512]);
  const theirs = ref.partitions.filter((x) => x.type !== '5').map((x) => [x.start, x.size]);
  t.same(mine, theirs);
  t.equal(tb.partitions[0].bootable, true);
  t.same(tb.partitions.map((x) => x.index), [1, 2, 5, 6]);
});

t.test('GPT entries, names and GUIDs match sfdisk; both headers verified', async (t) => {
  const dir = await tempDir(t);
  const p = await disk(dir, 'gpt.raw', 64, 'label: gpt\nstart=2048, size=32768, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI"\nstart=34816, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="Windows"\n');
  const tb = await table(p);
  const ref = await sfdiskView(p);
  t.equal(tb.kind, 'gpt');
  t.equal(tb.backupHeader, 'ok');
  t.equal(tb.diskGuid, ref.id.toLowerCase());
  t.same(tb.partitions.map((x) => [x.offset / 512, x.size / 512, x.guid, x.name]), ref.partitions.map((x) => [x.start, x.size, x.uuid?.toLowerCase(), x.name]));
  t.same(tb.partitions.map((x) => x.kind), ['efi-system', 'basic-data']);
  t.same(tb.warnings, []);
});

t.test('a corrupt primary GPT falls back to the backup; both corrupt is GPT_CORRUPT', async (t) => {
  const dir = await tempDir(t);
  const p = await disk(dir, 'gpt.raw', 16, 'label: gpt\nstart=2048, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n');
  await patch(p, 512 + 60, Buffer.from([0xff])); // inside the disk GUID: header CRC mismatch
  const tb = await table(p);
  t.equal(tb.partitions.length, 1);
  t.match(tb.warnings.join(' '), /primary GPT is invalid \(header CRC32 mismatch\); the backup is used/);
  await patch(p, 16 * MiB - 512 + 60, Buffer.from([0xff]));
  await t.rejects(table(p), { code: 'GPT_CORRUPT' });
});

t.test('a missing backup header is a warning; a corrupt entry array is caught by its CRC', async (t) => {
  const dir = await tempDir(t);
  const p = await disk(dir, 'gpt.raw', 16, 'label: gpt\nstart=2048, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n');
  await patch(p, 16 * MiB - 512, Buffer.alloc(512));
  const tb = await table(p);
  t.equal(tb.backupHeader, 'missing');
  t.equal(tb.partitions.length, 1);
  await patch(p, 1024 + 40, Buffer.from([0x01])); // entry 1 StartingLBA: entries CRC now wrong, backup gone
  await t.rejects(table(p), { code: 'GPT_CORRUPT' });
});

t.test('GPT entries outside the usable range and huge counts are typed errors', async (t) => {
  const dir = await tempDir(t);
  const p = await disk(dir, 'gpt.raw', 16, 'label: gpt\nstart=2048, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n');
  // Rewrite entry 1 to end beyond the disk and fix both CRCs, in primary and backup.
  const fh = await open(p, 'r+');
  for (const hdrLba of [1, 16 * 2048 - 1]) {
    const hdr = Buffer.alloc(512);
    await fh.read(hdr, 0, 512, hdrLba * 512);
    const entriesLba = Number(hdr.readBigUInt64LE(72));
    const n = hdr.readUInt32LE(80) * hdr.readUInt32LE(84);
    const entries = Buffer.alloc(n);
    await fh.read(entries, 0, n, entriesLba * 512);
    entries.writeBigUInt64LE(10n ** 9n, 40);
    await fh.write(entries, 0, n, entriesLba * 512);
    hdr.writeUInt32LE(crc32(entries) >>> 0, 88);
    hdr.writeUInt32LE(0, 16);
    hdr.writeUInt32LE(crc32(hdr.subarray(0, hdr.readUInt32LE(12))) >>> 0, 16);
    await fh.write(hdr, 0, 512, hdrLba * 512);
  }
  await fh.close();
  await t.rejects(table(p), { code: 'PARTITION_OUT_OF_RANGE' });
});

t.test('an EBR chain that loops is PARTITION_EBR_LOOP, never a hang', async (t) => {
  const dir = await tempDir(t);
  const p = await disk(dir, 'mbr.raw', 32, 'label: dos\nstart=2048, size=40960, type=5\nstart=4096, size=4096, type=7\nstart=10240, size=4096, type=7\n');
  // The second EBR (at 8192 + ...) links back to the first: patch its link entry to point at offset 0 of the extended partition.
  const ref = await sfdiskView(p);
  const secondStart = ref.partitions.find((x) => x.start === 10240)!.start;
  const src = await FileSource.open(p);
  // EBRs sit before each logical partition; find the one whose first entry describes the second logical.
  let ebr2 = -1;
  for (let lba = 2048; lba < secondStart; lba++) {
    const s = await src.readExact(lba * 512, 512);
    if (s[510] === 0x55 && s[511] === 0xaa && s.readUInt32LE(0x1be + 8) + lba === secondStart) ebr2 = lba;
  }
  await src.close();
  t.ok(ebr2 > 0, 'found the second EBR');
  const link = Buffer.alloc(16);
  link[4] = 0x05;
  link.writeUInt32LE(0, 8); // relative to the extended partition start: the first EBR again
  link.writeUInt32LE(100, 12);
  await patch(p, ebr2 * 512 + 0x1ce, link);
  await t.rejects(table(p), { code: 'PARTITION_EBR_LOOP' });
});

t.test('no table and a truncated image', async (t) => {
  const dir = await tempDir(t);
  const p = join(dir, 'blank.raw');
  await writeFile(p, Buffer.alloc(4096));
  const tb = await table(p);
  t.equal(tb.kind, 'none');
  await writeFile(p, Buffer.alloc(100));
  await t.rejects(table(p), { code: 'DISK_TOO_SMALL' });
});
