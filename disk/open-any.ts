/** Open a local path, a block device or an smb:// URL as a Disk (the source is only read). */
import type { Disk } from './types.js';
import { openDisk, type OpenDiskOptions } from './open.js';
import type { SmbConnectOptions } from '../network/smb/api.js';

export function isSmbUrl(s: string): boolean {
  return /^smb:\/\//i.test(s);
}

export async function openDiskAt(src: string, opts: OpenDiskOptions & { smb?: SmbConnectOptions } = {}): Promise<Disk> {
  const { smb, ...diskOpts } = opts;
  if (!isSmbUrl(src)) return openDisk(src, diskOpts);
  // Loaded only for smb:// (the SMB client is ~30 modules of start-up time for a local convert).
  const { openSmbSource } = await import('../network/smb/api.js');
  const source = await openSmbSource(src, smb);
  try {
    return await openDisk(source, diskOpts);
  } catch (e) {
    await source.close();
    throw e;
  }
}
