/**
 * The optional native data path (../native/copy.c, built by scripts/build-native.sh into
 * ../native/ce-disk.node): copy and zero-scan loops between local files on a threadpool thread,
 * and fallocate(). Without it (not built, no C compiler, CE_NATIVE_DISK=off) conversions take the
 * JS data path, and buffered writes go into holes without fallocate (slower on ext4).
 */
import { loadAddon, type AddonLoad } from '../../core/native-addon.js';

/** copy() flags. */
export const SKIP_ZEROS = 1;
export const FALLOCATE = 2;
/** copy() run sources other than a file offset. */
export const RUN_ZEROS = -1;
export const RUN_FILL = -2;

export interface NativeDisk {
  /**
   * Runs [srcOff, dstOff, len] in order (srcOff RUN_ZEROS / RUN_FILL: zeros / `fill`); resolves
   * [bytes written, of which with O_DIRECT]. Rejects with code ENOSPC, EIO, … or DISK_SHORT_READ.
   */
  copy(srcFd: number, dstFd: number, directFd: number, runs: Float64Array, piece: number, flags: number, fill?: Buffer): Promise<[number, number]>;
  /** Runs [srcOff, len]: one flag per `piece` of each run, 1 when it holds a non-zero byte. */
  scan(srcFd: number, runs: Float64Array, piece: number): Promise<Buffer>;
  /** 0 or the errno. */
  fallocate(fd: number, offset: number, length: number): number;
}

const CANDIDATES = ['../native/ce-disk.node', '../../../disk/native/ce-disk.node'];

let loaded: AddonLoad<NativeDisk> | undefined;

/** The native data path, or undefined (nativeDiskStatus() says why). Loaded once per thread. */
export function nativeDisk(): NativeDisk | undefined {
  loaded ??= loadAddon<NativeDisk>(import.meta.url, CANDIDATES, 'CE_NATIVE_DISK', ['copy', 'scan', 'fallocate']);
  return loaded.addon;
}

/** 'native' or the reason it is not used. */
export function nativeDiskStatus(): string {
  nativeDisk();
  return loaded!.addon ? 'native' : `js (native data path ${loaded!.why})`;
}
