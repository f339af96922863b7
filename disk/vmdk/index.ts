/** The VMDK format module: monolithicSparse, streamOptimized v3, monolithicFlat (read and write). */
import type { DiskFormatModule, DiskWriter, Problem } from '../types.js';
import { isDescriptorText, isSparseMagic } from './layout.js';
import { openVmdk } from './reader.js';
import { writeVmdkSparse } from './writer-sparse.js';
import { writeVmdkStream } from './writer-stream.js';
import { writeVmdkFlat } from './writer-flat.js';

export { flatName } from './writer-flat.js';

const writers: DiskWriter[] = [
  { target: 'vmdk', format: 'vmdk', subformat: 'monolithicSparse', streamable: false, write: writeVmdkSparse },
  { target: 'vmdk-stream', format: 'vmdk', subformat: 'streamOptimized', streamable: true, write: writeVmdkStream },
  { target: 'vmdk-flat', format: 'vmdk', subformat: 'monolithicFlat', streamable: true, write: writeVmdkFlat },
];

export const vmdkFormat: DiskFormatModule = {
  name: 'vmdk',
  // A descriptor file is small text; a flat extent alone is raw and is not claimed here.
  probe: (head, _tail, size) => isSparseMagic(head) || (size <= 1024 * 1024 && isDescriptorText(head)),
  open: openVmdk,
  writers,
  async check(disk) {
    const c = (disk as { check?: () => Problem[] }).check;
    return c ? c.call(disk) : [];
  },
};
