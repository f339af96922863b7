/**
 * What our VHD writers put in the footer.
 *
 * Size: the exact virtual size in current_size and original_size, always; the spec's CHS for it
 * (capped at 65535×16×255); never a silent change of the size (sizes must be multiples of 512).
 *
 * Creator app: 'win ' (Hyper-V), creator version 10.0, host 'Wi2k'. Every reader's size table
 * (QEMU since 2.6, VirtualBox, Hyper-V, Azure, XO) maps 'win ' to current_size. An own tag such
 * as 'ce  ' would be sized by CHS in QEMU ≤ 9 (unknown creators), shrinking any size that CHS
 * cannot represent. Override with WriterOptions.extra.creatorApp.
 */
import { randomUUID } from 'node:crypto';
import { CeError } from '../../core/errors.js';
import { VHD_MAX_SIZE, chsFor, serializeFooter, vhdTimestamp, type VhdType } from './footer.js';

export const CREATOR_APP = 'win ';
export const CREATOR_VERSION = 0x000a0000;
export const CREATOR_HOST_WINDOWS = 0x5769326b; // 'Wi2k'
/** QEMU hard-codes 2 MiB blocks; Hyper-V and Azure use 2 MiB too. */
export const VHD_BLOCK = 2 << 20;

export interface FooterInit {
  type: VhdType;
  size: number;
  dataOffset: number | null;
  creatorApp?: string;
  uuid?: Buffer;
  timestamp?: number;
}

export function uuidBytes(): Buffer {
  return Buffer.from(randomUUID().replace(/-/g, ''), 'hex');
}

export function makeFooter(f: FooterInit): Buffer {
  return serializeFooter({
    features: 2,
    version: 0x00010000,
    dataOffset: f.dataOffset,
    timestamp: f.timestamp ?? vhdTimestamp(),
    creatorApp: f.creatorApp ?? CREATOR_APP,
    creatorVersion: CREATOR_VERSION,
    creatorHostOs: CREATOR_HOST_WINDOWS,
    originalSize: f.size,
    currentSize: f.size,
    geometry: chsFor(f.size),
    type: f.type,
    uuid: f.uuid ?? uuidBytes(),
    savedState: 0,
  });
}

export function checkVhdSize(size: number, dynamic: boolean): void {
  if (size % 512 !== 0) {
    throw new CeError('VHD_SIZE_UNALIGNED', `A VHD's size must be a multiple of 512 bytes; the source has ${size}.`, {
      hint: `Pad the source to ${Math.ceil(size / 512) * 512} bytes, or convert to raw or VHDX.`,
      status: 400,
      details: { size },
    });
  }
  if (dynamic && size > VHD_MAX_SIZE) {
    throw new CeError('VHD_TOO_LARGE', `A dynamic VHD holds at most 2040 GiB; the source has ${size} bytes.`, {
      hint: 'Use VHDX (up to 64 TiB) or a fixed VHD.',
      status: 400,
      details: { size, max: VHD_MAX_SIZE },
    });
  }
}
