/**
 * `Hive`: a registry hive file opened for reading and editing (the contract in types.ts).
 * File I/O only; the format work is in registry.ts (cells, keys, values) and log-replay.ts.
 *
 * Open: read the primary; if its base block is dirty (sequence numbers differ or bad checksum),
 * replay `<name>.LOG1`/`.LOG2` (or `.LOG`) in memory; a dirty hive without usable logs is
 * HIVE_DIRTY unless `acceptDirty`.
 * Save: write a clean image (both sequence numbers = one more than any number seen in the
 * primary or its logs) atomically (`<dst>.partial`, fsync, rename); before replacing the opened
 * file, copy the original to `<name>.ce-backup` once (never overwritten). Then the logs beside
 * the saved file are made stale so Windows cannot replay old pages over our change (spec
 * windows.md §3.1): each is moved to `<log>.ce-backup` (if none yet) and truncated to 0 bytes.
 * A clean primary makes Windows ignore log entries anyway (regf spec, "Dirty state of a hive");
 * the higher sequence number and empty logs make that hold twice.
 */
import { copyFile, readFile, stat, truncate, constants as fsc } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { readdirSync } from 'node:fs';
import { writeAtomically, exists } from '../../core/atomic.js';
import { CeError } from '../../core/errors.js';
import { hiveError } from './errors.js';
import { parseBaseBlock } from './base-block.js';
import { replayLogs, type ReplayResult } from './log-replay.js';
import { HiveImage } from './registry.js';
import { createEmptyHive } from './new-hive.js';
import type { HiveKey, HiveOpenOptions, HiveSaveOptions, HiveSaveResult, RegistryHive, ReplayedLog } from './types.js';
import { REG } from './types.js';

export interface HiveFromBufferOptions extends HiveOpenOptions {
  /** Log contents to replay (instead of files). */
  logData?: { name: string; data: Buffer }[];
  /** A name for messages. */
  name?: string;
}

export type { ReplayedLog };

/** Log files that belong to a primary hive file (Windows names them .LOG1/.LOG2, XP .LOG). */
export function findLogFiles(path: string): string[] {
  const dir = dirname(path);
  const base = basename(path).toUpperCase();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const wanted = ['.LOG1', '.LOG2', '.LOG'];
  const out: string[] = [];
  for (const suffix of wanted) {
    const hit = names.find((n) => n.toUpperCase() === base + suffix);
    if (hit) out.push(join(dir, hit));
  }
  return out;
}

export class Hive extends HiveImage implements RegistryHive {
  /** The file this hive was opened from ('' when built from a buffer). */
  path = '';
  /** The primary file was dirty when opened (sequence numbers differ or a bad checksum). */
  readonly dirty: boolean;
  /** Logs replayed in memory at open (empty when the hive was clean or accepted dirty). */
  readonly replayedLog: ReplayedLog[];
  /** Highest sequence number seen in the primary and its logs. */
  private readonly maxSeq: number;
  /** The primary was accepted dirty, without replay. */
  readonly acceptedDirty: boolean;
  /**
   * The primary is clean but a log holds entries at or above its sequence number. Windows ignores
   * such entries (regf spec, "Dirty state of a hive") and so do we; `check` reports it.
   */
  logsAhead = false;

  private constructor(image: Buffer, opts: HiveOpenOptions, dirty: boolean, replayed: ReplayedLog[], maxSeq: number, acceptedDirty: boolean) {
    super(image, { readOnly: opts.readOnly });
    this.dirty = dirty;
    this.replayedLog = replayed;
    this.maxSeq = maxSeq;
    this.acceptedDirty = acceptedDirty;
  }

  /** Build from bytes (pure: no files touched). The buffer is copied only when logs are replayed; pass a private copy. */
  static fromBuffer(primary: Buffer, opts: HiveFromBufferOptions = {}): Hive {
    const name = opts.name ?? 'hive';
    const bb = parseBaseBlock(primary);
    const dirty = !bb.checksumOk || bb.seq1 !== bb.seq2;
    let image = primary;
    let replayed: ReplayedLog[] = [];
    let maxSeq = Math.max(bb.seq1, bb.seq2);
    let acceptedDirty = false;
    const logs = opts.logData ?? [];
    let replay: ReplayResult | undefined;
    if (logs.length) {
      replay = replayLogs(primary, logs);
      maxSeq = Math.max(maxSeq, replay.maxLogSeq);
    }
    if (dirty) {
      if (replay?.image) {
        image = replay.image;
        replayed = replay.applied;
      } else if (opts.acceptDirty) {
        acceptedDirty = true;
      } else if (!bb.checksumOk) {
        throw hiveError('HIVE_BAD_CHECKSUM', `The base block of ${name} has a bad checksum${logs.length ? ` and its logs do not recover it (${replay?.reason})` : ' and no transaction logs were found'}.`, { file: name, logs: logs.map((l) => l.name) }, 'Provide the .LOG1/.LOG2 files beside the hive, or pass acceptDirty (--accept-dirty) to read it as is.');
      } else {
        throw hiveError('HIVE_DIRTY', `${name} is dirty (sequence numbers ${bb.seq1} ≠ ${bb.seq2}) and ${logs.length ? `its logs cannot be replayed: ${replay?.reason}` : 'no transaction logs (.LOG1/.LOG2) were found'}.`, { file: name, seq1: bb.seq1, seq2: bb.seq2, logs: logs.map((l) => l.name) }, 'Copy the hive together with its .LOG1/.LOG2 files, or pass acceptDirty (--accept-dirty) to use the primary file as it is (its last changes may be missing).');
      }
    }
    const h = new Hive(image, opts, dirty, replayed, maxSeq, acceptedDirty);
    h.logsAhead = !dirty && replay !== undefined && replay.maxEntrySeq >= 0 && replay.maxEntrySeq >= bb.seq2;
    return h;
  }

  /** A new empty hive (root `rootName`, regf 1.`minor`), in memory until `save({ path })`. */
  static create(opts: { rootName?: string; minor?: number } = {}): Hive {
    return Hive.fromBuffer(createEmptyHive(opts.rootName, opts.minor ?? 5), { name: 'new hive' });
  }

  /** Open a hive file; logs default to `<path>.LOG1`/`.LOG2`/`.LOG` when present. */
  static async open(path: string, opts: HiveOpenOptions = {}): Promise<Hive> {
    let primary: Buffer;
    try {
      const st = await stat(path);
      if (!st.isFile()) throw hiveError('HIVE_NOT_A_FILE', `${path} is not a regular file.`, { path });
      if (st.size > 2 ** 31) throw hiveError('HIVE_TOO_BIG', `${path} is ${st.size} bytes, more than a hive can be (2 GiB).`, { path, size: st.size });
      primary = await readFile(path);
    } catch (e) {
      if (e instanceof CeError) throw e;
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw hiveError('HIVE_NOT_FOUND', `No hive file at ${path}.`, { path }, 'Check the path.');
      throw e;
    }
    const logPaths = opts.logs ?? findLogFiles(path);
    const logData: { name: string; data: Buffer }[] = [];
    for (const l of logPaths) {
      try {
        logData.push({ name: l, data: await readFile(l) });
      } catch (e) {
        if (opts.logs) throw hiveError('HIVE_LOG_NOT_FOUND', `Cannot read the transaction log ${l}.`, { log: l, errno: (e as NodeJS.ErrnoException).code });
      }
    }
    const h = Hive.fromBuffer(primary, { ...opts, logData, name: path });
    h.path = resolve(path);
    return h;
  }

  /** The next sequence number: above everything seen in the primary and its logs. */
  nextSequence(): number {
    return (Math.max(this.maxSeq, this.base.seq1, this.base.seq2) + 1) >>> 0;
  }

  /** The clean file image (pure; flushes pending lists). */
  toBuffer(): Buffer {
    return this.serialize(this.nextSequence());
  }

  /**
   * Save atomically. Default target: the opened file, after a one-time `<name>.ce-backup`.
   * Logs beside the target are backed up once and emptied (see the file comment).
   */
  async save(opts: HiveSaveOptions = {}): Promise<HiveSaveResult> {
    if (this.readOnly) throw hiveError('HIVE_READ_ONLY', 'The hive was opened read-only; it cannot be saved.', {}, 'Open it without readOnly.');
    const dest = opts.path ?? this.path;
    if (!dest) throw hiveError('HIVE_NO_PATH', 'This hive has no file; give save() a path.', {});
    const target = resolve(dest);
    let backup: string | undefined;
    if (!opts.noBackup && (await exists(target))) {
      backup = `${target}.ce-backup`;
      try {
        await copyFile(target, backup, fsc.COPYFILE_EXCL);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    const image = this.toBuffer();
    await writeAtomically(target, async (fh) => {
      await fh.write(image, 0, image.length, 0);
      await fh.truncate(image.length);
    }, { overwrite: true });
    const logsCleared: string[] = [];
    for (const log of findLogFiles(target)) {
      const st = await stat(log);
      if (st.size === 0) continue;
      if (!opts.noBackup) {
        try {
          await copyFile(log, `${log}.ce-backup`, fsc.COPYFILE_EXCL);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
      }
      await truncate(log, 0);
      logsCleared.push(log);
    }
    this.path ||= target;
    this.modified = false;
    return { path: target, backup, logsCleared };
  }
}

/** `ControlSet%03d` of `Select\Current` in a SYSTEM hive. */
export function currentControlSet(hive: { key(path: string): HiveKey | undefined }): string {
  return controlSetName(hive, 'Current');
}

function controlSetName(hive: { key(path: string): HiveKey | undefined }, which: 'Current' | 'Default'): string {
  const v = hive.key('Select')?.value(which);
  if (!v || (v.type !== REG.DWORD && v.type !== REG.DWORD_BIG_ENDIAN) || typeof v.data !== 'number' || v.data < 1 || v.data > 999) {
    throw hiveError('HIVE_NO_CONTROL_SET', `This is not a SYSTEM hive with a valid Select\\${which} DWORD.`, { which }, 'Open the SYSTEM hive (Windows\\System32\\config\\SYSTEM).');
  }
  const name = `ControlSet${String(v.data).padStart(3, '0')}`;
  if (!hive.key(name)) throw hiveError('HIVE_NO_CONTROL_SET', `Select\\${which} names ${name}, which does not exist.`, { which, controlSet: name });
  return name;
}

/** The control sets an edit goes to: Current, plus Default when it differs (spec windows.md §3.1). */
export function controlSetsToEdit(hive: { key(path: string): HiveKey | undefined }): string[] {
  const cur = currentControlSet(hive);
  let def: string | undefined;
  try {
    def = controlSetName(hive, 'Default');
  } catch {
    def = undefined;
  }
  return def && def !== cur ? [cur, def] : [cur];
}
