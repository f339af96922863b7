/**
 * qcow2 header codec (QEMU docs/interop/qcow2.txt), big-endian. Versions 2 and 3; features we
 * cannot read (encryption, external data file, extended L2, non-zlib compression) are refused
 * with a typed error instead of being misread.
 */
import { formatError, u64be } from '../format-kit/fields.js';

export const MAGIC = 0x514649fb; // "QFI\xfb"
const E = 'QCOW2';
export const INCOMPAT = { DIRTY: 1, CORRUPT: 2, EXTERNAL_DATA: 4, COMPRESSION_TYPE: 8, EXTENDED_L2: 16 } as const;
export const EXT_END = 0;
export const EXT_BACKING_FORMAT = 0xe2792aca;

export interface Qcow2Header {
  version: number;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  incompatible: bigint;
  compatible: bigint;
  autoclear: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
}

export function parseHeader(b: Buffer): Qcow2Header {
  if (b.length < 72 || b.readUInt32BE(0) !== MAGIC) throw formatError(E, 'BAD_MAGIC', 'No qcow2 magic ("QFI\\xfb").');
  const version = b.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw formatError(E, 'VERSION_UNSUPPORTED', `qcow2 version ${version} is not 2 or 3.`);
  const h: Qcow2Header = {
    version,
    backingFileOffset: u64be(b, 8, E, 'backing_file_offset'),
    backingFileSize: b.readUInt32BE(16),
    clusterBits: b.readUInt32BE(20),
    size: u64be(b, 24, E, 'size'),
    cryptMethod: b.readUInt32BE(32),
    l1Size: b.readUInt32BE(36),
    l1TableOffset: u64be(b, 40, E, 'l1_table_offset'),
    refcountTableOffset: u64be(b, 48, E, 'refcount_table_offset'),
    refcountTableClusters: b.readUInt32BE(56),
    nbSnapshots: b.readUInt32BE(60),
    incompatible: 0n,
    compatible: 0n,
    autoclear: 0n,
    refcountOrder: 4,
    headerLength: 72,
    compressionType: 0,
  };
  if (version === 3) {
    if (b.length < 104) throw formatError(E, 'HEADER_INVALID', 'The qcow2 v3 header is truncated.');
    h.incompatible = b.readBigUInt64BE(72);
    h.compatible = b.readBigUInt64BE(80);
    h.autoclear = b.readBigUInt64BE(88);
    h.refcountOrder = b.readUInt32BE(96);
    h.headerLength = b.readUInt32BE(100);
    if (h.headerLength < 104 || h.headerLength > b.length) throw formatError(E, 'HEADER_INVALID', `qcow2 header_length ${h.headerLength} is invalid.`);
    if (h.headerLength > 104) h.compressionType = b[104];
  }
  if (h.clusterBits < 9 || h.clusterBits > 21) throw formatError(E, 'CLUSTER_SIZE_INVALID', `qcow2 cluster_bits ${h.clusterBits} is outside 9..21.`);
  if (h.cryptMethod !== 0) throw formatError(E, 'ENCRYPTED', 'The qcow2 image is encrypted.', 'Decrypt it with qemu-img convert first.');
  const known = BigInt(INCOMPAT.DIRTY | INCOMPAT.CORRUPT | INCOMPAT.COMPRESSION_TYPE);
  if (h.incompatible & BigInt(INCOMPAT.EXTERNAL_DATA)) throw formatError(E, 'EXTERNAL_DATA_UNSUPPORTED', 'The qcow2 image keeps its data in an external file, which is not supported.');
  if (h.incompatible & BigInt(INCOMPAT.EXTENDED_L2)) throw formatError(E, 'EXTENDED_L2_UNSUPPORTED', 'The qcow2 image uses extended L2 entries (subclusters), which are not supported.', 'Convert it with qemu-img convert -O qcow2 first.');
  if (h.incompatible & ~known) throw formatError(E, 'FEATURE_UNSUPPORTED', `The qcow2 image uses unknown incompatible features (0x${h.incompatible.toString(16)}).`);
  if (h.compressionType !== 0) throw formatError(E, 'COMPRESSION_UNSUPPORTED', `qcow2 compression type ${h.compressionType} (zstd) is not supported; only zlib.`);
  return h;
}

/** A v3 header of 104 bytes followed by the end-of-extensions marker (what we write). */
export function serializeHeaderV3(o: { clusterBits: number; size: number; l1Size: number; l1TableOffset: number; refcountTableOffset: number; refcountTableClusters: number }): Buffer {
  const b = Buffer.alloc(112);
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt32BE(3, 4);
  b.writeUInt32BE(o.clusterBits, 20);
  b.writeBigUInt64BE(BigInt(o.size), 24);
  b.writeUInt32BE(o.l1Size, 36);
  b.writeBigUInt64BE(BigInt(o.l1TableOffset), 40);
  b.writeBigUInt64BE(BigInt(o.refcountTableOffset), 48);
  b.writeUInt32BE(o.refcountTableClusters, 56);
  b.writeUInt32BE(4, 96); // refcount_order 4: 16-bit refcounts (QEMU's default)
  b.writeUInt32BE(104, 100);
  // 104..111: header extension type 0 (end), length 0.
  return b;
}
