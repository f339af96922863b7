/**
 * The 64-byte SMB2 header (MS-SMB2 §2.2.1): sync form for requests, sync or async form
 * (AsyncId instead of Reserved/TreeId) for responses.
 */
import { HdrFlags, HEADER_SIZE } from './constants.js';

export const SMB2_MAGIC = 0x424d53fe; // 0xFE 'S' 'M' 'B' read as LE uint32
export const TRANSFORM_MAGIC = 0x424d53fd; // 0xFD 'S' 'M' 'B'

export interface RequestHeader {
  command: number;
  creditCharge: number;
  creditRequest: number;
  flags: number;
  messageId: number;
  treeId: number;
  sessionId: bigint;
  /** For CANCEL of an async request. */
  asyncId?: bigint;
}

/** Write a request header at buf[off..off+64]; the signature stays zero. */
export function writeRequestHeader(buf: Buffer, off: number, h: RequestHeader): void {
  buf.fill(0, off, off + HEADER_SIZE);
  buf.writeUInt32LE(SMB2_MAGIC, off);
  buf.writeUInt16LE(HEADER_SIZE, off + 4);
  buf.writeUInt16LE(h.creditCharge, off + 6);
  buf.writeUInt16LE(h.command, off + 12);
  buf.writeUInt16LE(h.creditRequest, off + 14);
  buf.writeUInt32LE(h.flags >>> 0, off + 16);
  buf.writeBigUInt64LE(BigInt(h.messageId), off + 24);
  if (h.asyncId !== undefined) buf.writeBigUInt64LE(h.asyncId, off + 32);
  else buf.writeUInt32LE(h.treeId >>> 0, off + 36);
  buf.writeBigUInt64LE(h.sessionId, off + 40);
}

export interface ResponseHeader {
  creditCharge: number;
  status: number;
  command: number;
  credits: number;
  flags: number;
  nextCommand: number;
  messageId: bigint;
  asyncId: bigint;
  treeId: number;
  sessionId: bigint;
}

export function readResponseHeader(buf: Buffer): ResponseHeader {
  const flags = buf.readUInt32LE(16);
  const async = (flags & HdrFlags.ASYNC_COMMAND) !== 0;
  return {
    creditCharge: buf.readUInt16LE(6),
    status: buf.readUInt32LE(8),
    command: buf.readUInt16LE(12),
    credits: buf.readUInt16LE(14),
    flags,
    nextCommand: buf.readUInt32LE(20),
    messageId: buf.readBigUInt64LE(24),
    asyncId: async ? buf.readBigUInt64LE(32) : 0n,
    treeId: async ? 0 : buf.readUInt32LE(36),
    sessionId: buf.readBigUInt64LE(40),
  };
}
