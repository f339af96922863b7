/** The VMDK format module: monolithicSparse, streamOptimized v3, monolithicFlat (read and write). */
import type { DiskFormatModule, DiskWriter, Problem } from '../types.js';
import { isDescriptorText, isSparseMagic } from './layout.js';

// The reader and writers load on first use (see ../vhd/index.ts).
const writers: DiskWriter[] = [
  { target: 'vmdk', format: 'vmdk', subformat: 'monolithicSparse', streamable: false, write: async (...a) => (await import('./writer-sparse.js')).writeVmdkSparse(...a) },
  { target: 'vmdk-stream', format: 'vmdk', subformat: 'streamOptimized', streamable: true, write: async (...a) => (await import('./writer-stream.js')).writeVmdkStream(...a) },
  { target: 'vmdk-flat', format: 'vmdk', subformat: 'monolithicFlat', streamable: true, write: async (...a) => (await import('./writer-flat.js')).writeVmdkFlat(...a) },
];

export const vmdkFormat: DiskFormatModule = {
  name: 'vmdk',
  // A descriptor file is small text; a flat extent alone is raw and is not claimed here.
  probe: (head, _tail, size) => isSparseMagic(head) || (size <= 1024 * 1024 && isDescriptorText(head)),
  open: async (src, opts) => (await import('./reader.js')).openVmdk(src, opts),
  writers,
  async check(disk) {
    const c = (disk as { check?: () => Problem[] }).check;
    return c ? c.call(disk) : [];
  },
};
