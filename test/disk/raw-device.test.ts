/**
 * Raw block devices as a Disk: a loop device attached read-only over a sparse raw file. Its size
 * comes from sysfs, it has no hole information (every block is listed, zero detection drops the
 * empty ones), and the conversion matches the file.
 */
import t from 'tap';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { needs } from '../helpers/env.js';
import { makeSparseRaw, qemuCompare } from '../helpers/disk-images.js';
import { runTool } from '../../core/tools.js';
import { openDisk } from '../../disk/open.js';
import { convert } from '../../disk/convert/engine.js';

const MiB = 1 << 20;

t.test('loop device → vhd and raw', { skip: needs({ root: true, loop: true }) }, async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'disk.raw');
  await makeSparseRaw(file, 12 * MiB, 6, 31);
  const dev = (await runTool('losetup', ['-r', '-f', '--show', file])).stdout.trim();
  t.teardown(() => runTool('losetup', ['-d', dev], { allowFailure: true }));
  const d = await openDisk(dev);
  t.equal(d.format, 'raw');
  t.equal(d.subformat, 'device');
  t.equal(d.virtualSize, 12 * MiB, 'size from sysfs');
  let listed = 0;
  for await (const _ of d.blocks()) listed++;
  t.equal(listed, 12, 'no hole information: every 1 MiB block listed');
  await d.close();
  const r = await convert(dev, join(dir, 'dev.vhd'), { to: 'vhd' });
  t.ok(r.output.fileSize < 12 * MiB + 4096, 'zero blocks dropped by zero detection');
  t.equal((await qemuCompare(file, 'raw', join(dir, 'dev.vhd'), 'vpc')).code, 0);
});
