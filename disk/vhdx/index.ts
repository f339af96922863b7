/** The VHDX format module (MS-VHDX): probe, open (with in-memory log replay), writers, check. */
import type { DiskFormatModule, DiskWriter } from '../types.js';
import { FILE_ID_SIG } from './layout.js';
import { VhdxDisk, openVhdx } from './reader.js';
import { writeVhdxDynamic, writeVhdxFixed } from './writer.js';

export { writeVhdxDifferencing, type VhdxParentLink } from './writer.js';
export { buildLogEntry } from './log.js';
export { VhdxDisk } from './reader.js';

const writers: DiskWriter[] = [
  { target: 'vhdx', format: 'vhdx', subformat: 'dynamic', streamable: false, write: writeVhdxDynamic },
  { target: 'vhdx-fixed', format: 'vhdx', subformat: 'fixed', streamable: true, write: writeVhdxFixed },
];

export const vhdxFormat: DiskFormatModule = {
  name: 'vhdx',
  probe: (head) => head.length >= 8 && head.subarray(0, 8).equals(FILE_ID_SIG),
  open: openVhdx,
  writers,
  async check(disk) {
    return disk instanceof VhdxDisk ? disk.check() : [];
  },
};
