/**
 * The kernel CIFS backend (mount -t cifs) as a second way to reach a share. Only detection is
 * implemented: it needs the kernel `cifs` file system and mount.cifs (cifs-utils), and root.
 * The CE's own client (this folder) is always available and is what every command uses; the
 * CIFS backend is reported so operators know why it is not used.
 */
import { readFile } from 'node:fs/promises';
import { hasTool } from '../../core/tools.js';
import { CeError } from '../../core/errors.js';

export interface CifsBackendStatus {
  available: boolean;
  kernelCifs: boolean;
  mountCifs: boolean;
  root: boolean;
  reason?: string;
}

export async function detectCifsBackend(): Promise<CifsBackendStatus> {
  const fsList = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  const kernelCifs = /\bcifs\b/.test(fsList) || /\bsmb3\b/.test(fsList);
  const mountCifs = await hasTool('mount.cifs');
  const root = process.getuid?.() === 0;
  const missing: string[] = [];
  if (!kernelCifs) missing.push('the kernel has no cifs file system (not in /proc/filesystems; module cannot be loaded here)');
  if (!mountCifs) missing.push('mount.cifs is not installed (Debian package cifs-utils)');
  if (!root) missing.push('mounting needs root');
  return { available: missing.length === 0, kernelCifs, mountCifs, root, reason: missing.length ? missing.join('; ') : undefined };
}

/** Stub: the CE never mounts; callers use the built-in client. */
export async function mountCifs(): Promise<never> {
  const st = await detectCifsBackend();
  throw new CeError('SMB_CIFS_UNAVAILABLE', `The kernel CIFS backend is not implemented${st.reason ? ` and not usable here: ${st.reason}` : ''}.`, {
    hint: 'Use the built-in SMB client (the default for smb:// URLs).',
    status: 501,
    details: st,
  });
}
