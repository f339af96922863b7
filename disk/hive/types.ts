/**
 * The registry hive API the edit modules (pagefile/, network/domain, vda/) use.
 * disk/hive/ implements it (class `Hive` in disk/hive/hive.ts with `static open(path, opts)`).
 * Key paths are relative to the hive root, backslash-separated, case-insensitive
 * (e.g. 'ControlSet001\\Services\\Tcpip\\Parameters').
 */

export const REG = {
  NONE: 0,
  SZ: 1,
  EXPAND_SZ: 2,
  BINARY: 3,
  DWORD: 4,
  DWORD_BIG_ENDIAN: 5,
  LINK: 6,
  MULTI_SZ: 7,
  RESOURCE_LIST: 8,
  FULL_RESOURCE_DESCRIPTOR: 9,
  RESOURCE_REQUIREMENTS_LIST: 10,
  QWORD: 11,
} as const;

/** Decoded data: string (SZ, EXPAND_SZ, LINK), string[] (MULTI_SZ), number (DWORD*), bigint (QWORD), Buffer (everything else). */
export type RegData = string | string[] | number | bigint | Buffer;

export interface RegValue {
  /** '' is the key's default value. */
  name: string;
  type: number;
  /** The raw bytes as stored. */
  raw: Buffer;
  /** Decoded by type; unknown types give the raw Buffer. */
  data: RegData;
}

export interface HiveKey {
  readonly name: string;
  /** Path from the hive root, '' for the root. */
  readonly path: string;
  readonly lastWritten: Date;
  readonly className?: string;
  subkeys(): HiveKey[];
  subkey(name: string): HiveKey | undefined;
  values(): RegValue[];
  value(name: string): RegValue | undefined;
  /** Create or replace a value. Data is encoded by type (number for DWORD, string[] for MULTI_SZ, Buffer as is). */
  setValue(name: string, type: number, data: RegData): void;
  deleteValue(name: string): boolean;
  /** Create a subkey (and intermediate keys) below this key; returns the existing key if present. */
  createKey(relPath: string): HiveKey;
  /** Delete a subkey and everything below it. */
  deleteKey(name: string): boolean;
}

export interface HiveOpenOptions {
  /** Transaction logs to replay in memory; default: `<path>.LOG1`/`.LOG2` when present. */
  logs?: string[];
  /** Accept a dirty hive without logs as is (read-only inspection); default refuses with HIVE_DIRTY. */
  acceptDirty?: boolean;
  /** Open for reading only: save() throws. */
  readOnly?: boolean;
}

export interface HiveSaveOptions {
  /** Write to another path (default: the opened path, atomically, after a `<name>.ce-backup`). */
  path?: string;
  /** Skip the backup (new files, tests). Default false. */
  noBackup?: boolean;
}

/** One transaction log replayed in memory at open. */
export interface ReplayedLog {
  log: string;
  format: 'new' | 'old';
  /** HvLE entries (new format) or 512-byte pages (old format) applied. */
  entries: number;
  firstSeq?: number;
  lastSeq?: number;
}

export interface HiveSaveResult {
  path: string;
  /** `<name>.ce-backup`, made once before the first in-place save (undefined with noBackup or a new file). */
  backup?: string;
  /** Logs beside the saved file that were emptied so Windows cannot replay them over our change. */
  logsCleared: string[];
}

/** What `Hive` (disk/hive/hive.ts) offers the edit modules, beside `Hive.open(path, opts)`. */
export interface RegistryHive {
  readonly root: HiveKey;
  key(path: string): HiveKey | undefined;
  /** The key at a path, created with its missing parents. */
  ensureKey(path: string): HiveKey;
  /** The primary file was dirty when opened (sequence numbers differ or a bad checksum). */
  readonly dirty: boolean;
  /** Logs replayed at open; empty when the hive was clean or accepted dirty. */
  readonly replayedLog: ReplayedLog[];
  /** Changed since open or the last save. */
  readonly modified: boolean;
  save(opts?: HiveSaveOptions): Promise<HiveSaveResult>;
}
