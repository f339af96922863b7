/**
 * QUERY_DIRECTORY (§2.2.33/34), QUERY_INFO (§2.2.37/38), SET_INFO (§2.2.39) and the
 * MS-FSCC structures we use: FileIdBothDirectoryInformation, FileFsFullSizeInformation,
 * FileStandardInformation, FileRenameInformation (SMB2 form), FileDispositionInformation,
 * FileEndOfFileInformation.
 */
import { FileAttr, HEADER_SIZE } from './constants.js';
import { smbProtocolError } from '../status.js';

export const QueryDirFlags = { RESTART_SCANS: 0x1, RETURN_SINGLE_ENTRY: 0x2, INDEX_SPECIFIED: 0x4, REOPEN: 0x10 } as const;

export function queryDirectoryRequest(fileId: Buffer, infoClass: number, pattern: string, flags: number, outputLength: number): Buffer {
  const name = Buffer.from(pattern, 'utf16le');
  const b = Buffer.alloc(32 + Math.max(name.length, 1));
  b.writeUInt16LE(33, 0);
  b.writeUInt8(infoClass, 2);
  b.writeUInt8(flags, 3);
  fileId.copy(b, 8);
  b.writeUInt16LE(HEADER_SIZE + 32, 24);
  b.writeUInt16LE(name.length, 26);
  b.writeUInt32LE(outputLength, 28);
  name.copy(b, 32);
  return b;
}

/** The output buffer of QUERY_DIRECTORY / QUERY_INFO responses (same layout). */
export function outputBuffer(msg: Buffer): Buffer {
  const b = msg.subarray(HEADER_SIZE);
  if (b.length < 8) throw smbProtocolError('response too short');
  const off = b.readUInt16LE(2);
  const len = b.readUInt32LE(4);
  if (len === 0) return Buffer.alloc(0);
  if (off + len > msg.length) throw smbProtocolError('output buffer out of range');
  return msg.subarray(off, off + len);
}

export interface DirEntry {
  name: string;
  size: number;
  allocationSize: number;
  isDirectory: boolean;
  attributes: number;
  /** ms since epoch */
  mtime: number;
}

export function fileTimeToMs(ft: bigint): number {
  return ft === 0n ? 0 : Number(ft / 10000n - 11644473600000n);
}

/** Parse FileIdBothDirectoryInformation entries (MS-FSCC §2.4.17). */
export function parseIdBothDirectory(buf: Buffer): DirEntry[] {
  const out: DirEntry[] = [];
  let off = 0;
  for (;;) {
    if (off + 104 > buf.length) throw smbProtocolError('directory entry out of range');
    const next = buf.readUInt32LE(off);
    const nameLen = buf.readUInt32LE(off + 60);
    if (off + 104 + nameLen > buf.length) throw smbProtocolError('directory entry name out of range');
    const attributes = buf.readUInt32LE(off + 56);
    out.push({
      name: buf.toString('utf16le', off + 104, off + 104 + nameLen),
      mtime: fileTimeToMs(buf.readBigUInt64LE(off + 24)),
      size: Number(buf.readBigUInt64LE(off + 40)),
      allocationSize: Number(buf.readBigUInt64LE(off + 48)),
      attributes,
      isDirectory: (attributes & FileAttr.DIRECTORY) !== 0,
    });
    if (next === 0) return out;
    if (next < 104) throw smbProtocolError('directory entry loop');
    off += next;
  }
}

export function queryInfoRequest(fileId: Buffer, infoType: number, infoClass: number, outputLength: number): Buffer {
  const b = Buffer.alloc(41);
  b.writeUInt16LE(41, 0);
  b.writeUInt8(infoType, 2);
  b.writeUInt8(infoClass, 3);
  b.writeUInt32LE(outputLength, 4);
  b.writeUInt16LE(0, 8); // InputBufferOffset: none
  fileId.copy(b, 24);
  return b;
}

export interface FsFullSize {
  totalBytes: number;
  /** Available to the caller (quota-aware). */
  callerAvailableBytes: number;
  actualAvailableBytes: number;
  bytesPerUnit: number;
}

/** FileFsFullSizeInformation (MS-FSCC §2.5.4). */
export function parseFsFullSize(buf: Buffer): FsFullSize {
  if (buf.length < 32) throw smbProtocolError('FileFsFullSizeInformation too short');
  const unit = buf.readUInt32LE(24) * buf.readUInt32LE(28);
  return {
    totalBytes: Number(buf.readBigUInt64LE(0)) * unit,
    callerAvailableBytes: Number(buf.readBigUInt64LE(8)) * unit,
    actualAvailableBytes: Number(buf.readBigUInt64LE(16)) * unit,
    bytesPerUnit: unit,
  };
}

/** FileStandardInformation (MS-FSCC §2.4.41). */
export function parseStandardInfo(buf: Buffer): { allocationSize: number; endOfFile: number; deletePending: boolean; directory: boolean } {
  if (buf.length < 22) throw smbProtocolError('FileStandardInformation too short');
  return {
    allocationSize: Number(buf.readBigUInt64LE(0)),
    endOfFile: Number(buf.readBigUInt64LE(8)),
    deletePending: buf[20] !== 0,
    directory: buf[21] !== 0,
  };
}

export function setInfoRequest(fileId: Buffer, infoType: number, infoClass: number, data: Buffer): Buffer {
  const b = Buffer.alloc(32 + data.length);
  b.writeUInt16LE(33, 0);
  b.writeUInt8(infoType, 2);
  b.writeUInt8(infoClass, 3);
  b.writeUInt32LE(data.length, 4);
  b.writeUInt16LE(HEADER_SIZE + 32, 8);
  fileId.copy(b, 16);
  data.copy(b, 32);
  return b;
}

/** FileRenameInformation, SMB2 form (MS-FSCC §2.4.37.2): the new name is relative to the share root. */
export function renameInfo(newPath: string, replaceIfExists: boolean): Buffer {
  const name = Buffer.from(newPath, 'utf16le');
  const b = Buffer.alloc(20 + name.length);
  b.writeUInt8(replaceIfExists ? 1 : 0, 0);
  b.writeUInt32LE(name.length, 16);
  name.copy(b, 20);
  return b;
}

export function dispositionInfo(deletePending: boolean): Buffer {
  return Buffer.from([deletePending ? 1 : 0]);
}

export function endOfFileInfo(length: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(length));
  return b;
}
