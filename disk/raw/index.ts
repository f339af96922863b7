/** The raw "format": files and block devices, byte for byte. */
import type { DiskFormatModule } from '../types.js';
import { RawDisk } from './disk.js';
import { rawWriter } from './writer.js';

export const rawFormat: DiskFormatModule = {
  name: 'raw',
  // Raw is what is left when no other format matches: the registry uses it as the fallback.
  probe: () => false,
  async open(src) {
    return new RawDisk(src);
  },
  writers: [rawWriter],
};

export { RawDisk } from './disk.js';
