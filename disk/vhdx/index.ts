/** The VHDX format module (MS-VHDX): probe, open (with in-memory log replay), writers, check. */
import type { DiskFormatModule, DiskWriter } from '../types.js';
import { FILE_ID_SIG } from './layout.js';

// The reader and writers load on first use (see ../vhd/index.ts).
const writers: DiskWriter[] = [
  { target: 'vhdx', format: 'vhdx', subformat: 'dynamic', streamable: false, write: async (...a) => (await import('./writer.js')).writeVhdxDynamic(...a) },
  { target: 'vhdx-fixed', format: 'vhdx', subformat: 'fixed', streamable: true, write: async (...a) => (await import('./writer.js')).writeVhdxFixed(...a) },
];

export const vhdxFormat: DiskFormatModule = {
  name: 'vhdx',
  probe: (head) => head.length >= 8 && head.subarray(0, 8).equals(FILE_ID_SIG),
  open: async (src, opts) => (await import('./reader.js')).openVhdx(src, opts),
  writers,
  async check(disk) {
    const { VhdxDisk } = await import('./reader.js');
    return disk instanceof VhdxDisk ? disk.check() : [];
  },
};
