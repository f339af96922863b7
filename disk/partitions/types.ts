/** What the partition parser reports. Offsets and sizes are bytes (JS numbers, range-checked at parse time). */
export type TableKind = 'mbr' | 'gpt' | 'none';

export interface Partition {
  /** 1-based, in table order (MBR primary 1–4, logical 5+; GPT entry index + 1). */
  index: number;
  offset: number;
  size: number;
  /** MBR: the type byte as 0xNN; GPT: the type GUID (lower case). */
  type: string;
  /** A readable name for the type: ntfs/basic-data, efi-system, msr, recovery, extended, linux, unknown. */
  kind: PartitionKind;
  /** GPT: the unique partition GUID; MBR: undefined. */
  guid?: string;
  /** GPT: the partition name (UTF-16LE in the entry). */
  name?: string;
  /** MBR: the active (boot) flag. */
  bootable?: boolean;
}

export type PartitionKind = 'basic-data' | 'efi-system' | 'msr' | 'recovery' | 'extended' | 'linux' | 'empty' | 'unknown';

export interface PartitionTable {
  kind: TableKind;
  /** MBR disk signature (u32 at 0x1B8) as 8 hex digits; used by MountedDevices MBR entries. */
  diskSignature?: string;
  /** GPT disk GUID. */
  diskGuid?: string;
  sectorSize: number;
  partitions: Partition[];
  /** GPT: the backup header was checked (present and consistent) or the reason it was not. */
  backupHeader?: 'ok' | 'missing' | 'corrupt';
  /** Non-fatal findings (a bad backup GPT header, overlapping entries…). */
  warnings: string[];
}
