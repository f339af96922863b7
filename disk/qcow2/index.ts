/** The qcow2 format module: read v2/v3 (incl. compressed clusters and backing files), write v3 uncompressed. */
import type { DiskFormatModule, DiskWriter, Problem } from '../types.js';
import { MAGIC } from './layout.js';

// The reader and writer load on first use (see ../vhd/index.ts).
const writers: DiskWriter[] = [{ target: 'qcow2', format: 'qcow2', subformat: 'v3', streamable: false, write: async (...a) => (await import('./writer.js')).writeQcow2(...a) }];

export const qcow2Format: DiskFormatModule = {
  name: 'qcow2',
  probe: (head) => head.length >= 8 && head.readUInt32BE(0) === MAGIC && [2, 3].includes(head.readUInt32BE(4)),
  open: async (src, opts) => (await import('./reader.js')).openQcow2(src, opts),
  writers,
  async check(disk) {
    const c = (disk as { check?: () => Promise<Problem[]> }).check;
    return c ? c.call(disk) : [];
  },
};
