/**
 * Mount an NTFS volume (a loop device over the partition) with ntfs-3g (FUSE; the kernel here has
 * no ntfs3). Before a read-write mount the volume state is checked:
 * - hibernated / Fast Startup (hiberfil.sys starts with `hibr`/`HIBR`; ntfs-3g.probe exit 14) → NTFS_HIBERNATED;
 * - not cleanly unmounted ($LogFile unclean, probe exit 15) or the $Volume dirty flag set → NTFS_DIRTY.
 * Editing such a volume would lose Windows' cached metadata or our edits (windows.md §3.1), so we
 * refuse; a read-only inspection may proceed when the caller allows it, and reports the state.
 */
import { mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CeError } from '../../core/errors.js';
import { runTool } from '../../core/tools.js';
import { register } from './cleanup.js';

export interface NtfsState {
  hibernated: boolean;
  unclean: boolean;
  dirty: boolean;
}

export interface NtfsMount {
  device: string;
  mountpoint: string;
  readOnly: boolean;
  state: NtfsState;
  release(): Promise<void>;
}

export interface MountOptions {
  readOnly?: boolean;
  /** Read-only inspection of a hibernated/unclean volume is allowed (the state is reported, nothing is written). */
  allowUnsafeReadOnly?: boolean;
  /** Where to create the mount point (default the OS temp dir). */
  tmpDir?: string;
}

/** The volume's state, without mounting: ntfs-3g.probe for hibernation/journal, ntfsinfo for the dirty flag. */
export async function probeNtfs(device: string): Promise<NtfsState> {
  const p = await runTool('ntfs-3g.probe', ['--readwrite', device], { allowFailure: true });
  if (p.exitCode === 12 || p.exitCode === 13) {
    throw new CeError('NTFS_INVALID', `${device} does not hold a consistent NTFS volume (ntfs-3g.probe exit ${p.exitCode}).`, {
      hint: 'Run chkdsk on the source Windows machine, or check the partition offset.',
      details: { stderr: p.stderr.slice(-2000) },
    });
  }
  const state: NtfsState = { hibernated: p.exitCode === 14, unclean: p.exitCode === 15, dirty: false };
  const info = await runTool('ntfsinfo', ['-m', '-f', device], { allowFailure: true });
  const flags = /Volume Flags:\s*(.*)/i.exec(info.stdout)?.[1] ?? '';
  state.dirty = /DIRTY/i.test(flags);
  return state;
}

export function refuseUnsafe(state: NtfsState, device: string): void {
  if (state.hibernated) {
    throw new CeError('NTFS_HIBERNATED', `The Windows volume on ${device} is hibernated or was shut down with Fast Startup.`, {
      hint: 'Boot the source machine, run `powercfg /h off` as Administrator (disables hibernation and Fast Startup), shut it down fully and export again. A read-only inspection is still possible.',
      status: 409,
    });
  }
  if (state.unclean || state.dirty) {
    throw new CeError('NTFS_DIRTY', `The Windows volume on ${device} was not cleanly unmounted${state.dirty ? ' (dirty flag set)' : ' (journal not empty)'}.`, {
      hint: 'Boot the source machine, run `chkdsk C: /f` (or shut it down fully) and export again. A read-only inspection is still possible.',
      status: 409,
    });
  }
}

export async function mountNtfs(device: string, opts: MountOptions = {}): Promise<NtfsMount> {
  const state = await probeNtfs(device);
  const readOnly = Boolean(opts.readOnly);
  if (!readOnly || !opts.allowUnsafeReadOnly) refuseUnsafe(state, device);

  const mountpoint = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'ce-ntfs-'));
  const dirHandle = register(`mount point ${mountpoint}`, () => rmdir(mountpoint).catch(() => undefined));
  // norecover: never let ntfs-3g clear the journal behind our back; streams_interface=none keeps names plain.
  const o = [readOnly ? 'ro' : 'rw', 'norecover', 'big_writes'];
  const r = await runTool('ntfs-3g', ['-o', o.join(','), device, mountpoint], { allowFailure: true });
  if (r.exitCode !== 0) {
    await dirHandle.release();
    if (r.exitCode === 14 || /hibernat/i.test(r.stderr)) refuseUnsafe({ ...state, hibernated: true }, device);
    if (r.exitCode === 15 || /unclean|not unmounted properly/i.test(r.stderr)) refuseUnsafe({ ...state, unclean: true }, device);
    throw new CeError('NTFS_MOUNT_FAILED', `ntfs-3g could not mount ${device} (exit ${r.exitCode}): ${r.stderr.split('\n')[0]}`, {
      hint: 'FUSE (/dev/fuse) and root are needed; check the partition with ntfsinfo.',
      status: 500,
      details: { stderr: r.stderr.slice(-2000) },
    });
  }
  dirHandle.forget();
  // Read-write: wait for the daemon to exit on unmount so every write reached the device before
  // the loop device is detached or the raw view converted back. Read-only: nothing to flush.
  const pid = readOnly ? undefined : await findDaemon(mountpoint);
  const handle = register(`ntfs mount ${mountpoint}`, () => unmountNtfs(mountpoint, pid));
  return { device, mountpoint, readOnly, state, release: () => handle.release() };
}

/** The ntfs-3g daemon serving this (unique, mkdtemp) mount point, so unmount can wait until it has flushed and closed the device. */
async function findDaemon(mountpoint: string): Promise<number | undefined> {
  const { readdir, readFile } = await import('node:fs/promises');
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const cmd = await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '');
    if ((cmd.split('\0')[0] ?? '').endsWith('ntfs-3g') && cmd.split('\0').includes(mountpoint)) return Number(d);
  }
  return undefined;
}

async function waitExit(pid: number | undefined): Promise<void> {
  if (!pid) return;
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((res) => setTimeout(res, 50));
  }
}

export async function unmountNtfs(mountpoint: string, daemonPid?: number): Promise<void> {
  // fusermount may be absent; umount works for FUSE mounts as root. ntfs-3g flushes on unmount, so wait until it is gone.
  let last = '';
  for (let i = 0; i < 10; i++) {
    const r = await runTool('umount', [mountpoint], { allowFailure: true });
    if (r.exitCode === 0 || /not mounted|no mount point/i.test(r.stderr)) {
      await waitUnmounted(mountpoint);
      await waitExit(daemonPid);
      await rmdir(mountpoint).catch(() => undefined);
      return;
    }
    last = r.stderr;
    await new Promise((res) => setTimeout(res, 100 * (i + 1)));
  }
  throw new CeError('NTFS_UNMOUNT_FAILED', `Could not unmount ${mountpoint}: ${last}`, { hint: `Unmount by hand: umount ${mountpoint}`, status: 500 });
}

async function waitUnmounted(mountpoint: string): Promise<void> {
  const { readFile } = await import('node:fs/promises');
  for (let i = 0; i < 50; i++) {
    const mounts = await readFile('/proc/self/mounts', 'utf8');
    if (!mounts.split('\n').some((l) => l.split(' ')[1] === mountpoint)) return;
    await new Promise((res) => setTimeout(res, 50));
  }
}
