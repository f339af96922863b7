/**
 * CREATE (§2.2.13/14), CLOSE (§2.2.15/16), FLUSH (§2.2.17), READ (§2.2.19/20), WRITE (§2.2.21/22).
 * A FileId is the 16 bytes (persistent ‖ volatile) the server returned; we keep it opaque.
 */
import { HEADER_SIZE } from './constants.js';
import { smbProtocolError } from '../status.js';

export interface CreateRequest {
  path: string;
  desiredAccess: number;
  fileAttributes: number;
  shareAccess: number;
  disposition: number;
  options: number;
}

export function createRequest(r: CreateRequest): Buffer {
  const name = Buffer.from(r.path, 'utf16le');
  // The buffer must be at least one byte even for the share root (empty name).
  const b = Buffer.alloc(56 + Math.max(name.length, 8));
  b.writeUInt16LE(57, 0);
  b.writeUInt32LE(2, 4); // ImpersonationLevel: Impersonation
  b.writeUInt32LE(r.desiredAccess >>> 0, 24);
  b.writeUInt32LE(r.fileAttributes, 28);
  b.writeUInt32LE(r.shareAccess, 32);
  b.writeUInt32LE(r.disposition, 36);
  b.writeUInt32LE(r.options, 40);
  b.writeUInt16LE(HEADER_SIZE + 56, 44);
  b.writeUInt16LE(name.length, 46);
  name.copy(b, 56);
  return b;
}

export interface CreateResponse {
  fileId: Buffer;
  createAction: number;
  endOfFile: number;
  allocationSize: number;
  fileAttributes: number;
  lastWriteTime: bigint;
}

export function parseCreateResponse(msg: Buffer): CreateResponse {
  const b = msg.subarray(HEADER_SIZE);
  if (b.length < 88) throw smbProtocolError('CREATE response too short');
  return {
    createAction: b.readUInt32LE(4),
    lastWriteTime: b.readBigUInt64LE(24),
    allocationSize: Number(b.readBigUInt64LE(40)),
    endOfFile: Number(b.readBigUInt64LE(48)),
    fileAttributes: b.readUInt32LE(56),
    fileId: Buffer.from(b.subarray(64, 80)),
  };
}

export function closeRequest(fileId: Buffer): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt16LE(24, 0);
  fileId.copy(b, 8);
  return b;
}

export function flushRequest(fileId: Buffer): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt16LE(24, 0);
  fileId.copy(b, 8);
  return b;
}

export function readRequest(fileId: Buffer, offset: number, length: number): Buffer {
  const b = Buffer.alloc(49);
  b.writeUInt16LE(49, 0);
  b.writeUInt8(0x50, 2); // Padding: put the data right after the 16-byte response body + header
  b.writeUInt32LE(length, 4);
  b.writeBigUInt64LE(BigInt(offset), 8);
  fileId.copy(b, 16);
  b.writeUInt32LE(0, 32); // MinimumCount
  return b;
}

/** The data of a READ response: a view into the message (no copy). */
export function readResponseData(msg: Buffer): Buffer {
  const b = msg.subarray(HEADER_SIZE);
  if (b.length < 16) throw smbProtocolError('READ response too short');
  const off = b[2]!;
  const len = b.readUInt32LE(4);
  if (off + len > msg.length) throw smbProtocolError('READ data out of range');
  return msg.subarray(off, off + len);
}

/** The fixed part of a WRITE request; the data follows at offset 64 + 48. */
export function writeRequest(fileId: Buffer, offset: number, length: number): Buffer {
  const b = Buffer.alloc(48);
  b.writeUInt16LE(49, 0);
  b.writeUInt16LE(HEADER_SIZE + 48, 2);
  b.writeUInt32LE(length, 4);
  b.writeBigUInt64LE(BigInt(offset), 8);
  fileId.copy(b, 16);
  return b;
}

export function writeResponseCount(msg: Buffer): number {
  const b = msg.subarray(HEADER_SIZE);
  if (b.length < 16) throw smbProtocolError('WRITE response too short');
  return b.readUInt32LE(4);
}
