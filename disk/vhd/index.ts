/** VHD (Virtual PC / Hyper-V v1): fixed, dynamic and differencing. */
import type { DiskFormatModule, DiskWriter } from '../types.js';
import { FOOTER_SIZE, hasFooterCookie } from './footer.js';
import type { VhdDisk } from './disk.js';

// The reader, checker and writers load on first use: `ce convert` pays start-up only for the
// formats it touches (each format's modules take 5–15 ms to load).
const writers: DiskWriter[] = [
  { target: 'vhd', format: 'vhd', subformat: 'dynamic', streamable: true, write: async (...a) => (await import('./writer-dynamic.js')).writeVhdDynamic(...a) },
  { target: 'vhd-fixed', format: 'vhd', subformat: 'fixed', streamable: true, write: async (...a) => (await import('./writer-fixed.js')).writeVhdFixed(...a) },
];

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
  open: async (src, opts) => (await import('./open.js')).openVhd(src, opts),
  writers,
  check: async (disk) => (await import('./check.js')).checkVhd(disk as VhdDisk),
};
