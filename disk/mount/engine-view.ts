/**
 * The raw view of a non-raw image through our own disk engine (the default provider of
 * expose.ts): the image is converted to a sparse raw file in the work dir, edited there, and
 * converted back into the same format *and subformat* (dynamic/fixed VHD and VHDX, sparse/stream/flat
 * VMDK, qcow2) by an atomic `<target>.partial` + rename. Differencing images are edited only
 * read-only: writing a child back would need the parent's content decided per block.
 */
import { join } from 'node:path';
import { CeError } from '../../core/errors.js';
import { convert } from '../convert/engine.js';
import { openDisk } from '../open.js';
import { formatModule } from '../formats.js';
import type { RawViewProvider } from './expose.js';

export const engineRawViewProvider: RawViewProvider = {
  async toRaw(target, _format, workDir, signal) {
    const out = join(workDir, 'view.raw');
    await convert(target, out, { to: 'raw', signal, sparse: true, fsync: false });
    return out;
  },
  async fromRaw(raw, target, _format, _subformatOption, signal) {
    const disk = await openDisk(target);
    const { format, subformat } = disk;
    await disk.close();
    if (subformat === 'differencing' || disk.parent) {
      throw new CeError('DISK_WRITE_BACK_UNSUPPORTED', `${target} is a differencing image; the CE edits it read-only.`, {
        hint: 'Merge the chain into one image first (ce convert), then prepare that image.',
      });
    }
    const writers = formatModule(format).writers;
    const writer = writers.find((w) => w.subformat === subformat) ?? writers[0];
    if (!writer) throw new CeError('DISK_WRITE_BACK_UNSUPPORTED', `No writer for ${format}.`);
    await convert(raw, target, { to: writer.target, overwrite: true, signal });
  },
};
