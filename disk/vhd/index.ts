/** VHD (Virtual PC / Hyper-V v1): fixed, dynamic and differencing. */
import type { DiskFormatModule } from '../types.js';
import { FOOTER_SIZE, hasFooterCookie } from './footer.js';
import { openVhd } from './open.js';
import { checkVhd } from './check.js';
import { vhdDynamicWriter } from './writer-dynamic.js';
import { vhdFixedWriter } from './writer-fixed.js';
import type { VhdDisk } from './disk.js';

export const vhdFormat: DiskFormatModule = {
  name: 'vhd',
  /**
   * A dynamic VHD starts with a footer copy; a fixed VHD only has the footer in its last 512
   * bytes. QEMU probes offset 0 only and calls fixed VHDs raw (coreos-assembler #1131); we look
   * at both ends.
   */
  probe(head, tail, size) {
    if (size < FOOTER_SIZE) return false;
    if (hasFooterCookie(head)) return true;
    return tail.length >= FOOTER_SIZE && hasFooterCookie(tail, tail.length - FOOTER_SIZE);
  },
  open: openVhd,
  writers: [vhdDynamicWriter, vhdFixedWriter],
  check: (disk) => checkVhd(disk as VhdDisk),
};

export { VhdDisk } from './disk.js';
