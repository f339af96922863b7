/** SESSION_SETUP (MS-SMB2 §2.2.5, §2.2.6), LOGOFF (§2.2.7), TREE_CONNECT/DISCONNECT (§2.2.9–2.2.12). */
import { HEADER_SIZE, SecurityMode } from './constants.js';
import { smbProtocolError } from '../status.js';

export function sessionSetupRequest(securityBuffer: Buffer, signingRequired: boolean): Buffer {
  const b = Buffer.alloc(24 + securityBuffer.length);
  b.writeUInt16LE(25, 0);
  b.writeUInt8(0, 2); // Flags (no binding)
  b.writeUInt8(signingRequired ? SecurityMode.SIGNING_REQUIRED : SecurityMode.SIGNING_ENABLED, 3);
  b.writeUInt32LE(0, 4); // Capabilities: DFS not used
  b.writeUInt16LE(HEADER_SIZE + 24, 12);
  b.writeUInt16LE(securityBuffer.length, 14);
  securityBuffer.copy(b, 24);
  return b;
}

export function parseSessionSetupResponse(msg: Buffer): { sessionFlags: number; securityBuffer: Buffer } {
  const b = msg.subarray(HEADER_SIZE);
  if (b.length < 8) throw smbProtocolError('SESSION_SETUP response too short');
  const off = b.readUInt16LE(4);
  const len = b.readUInt16LE(6);
  if (off + len > msg.length) throw smbProtocolError('SESSION_SETUP security buffer out of range');
  return { sessionFlags: b.readUInt16LE(2), securityBuffer: Buffer.from(msg.subarray(off, off + len)) };
}

export function logoffRequest(): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(4, 0);
  return b;
}

export function treeConnectRequest(uncPath: string): Buffer {
  const path = Buffer.from(uncPath, 'utf16le');
  const b = Buffer.alloc(8 + path.length);
  b.writeUInt16LE(9, 0);
  b.writeUInt16LE(HEADER_SIZE + 8, 4);
  b.writeUInt16LE(path.length, 6);
  path.copy(b, 8);
  return b;
}

export interface TreeConnectResponse {
  shareType: number;
  shareFlags: number;
  capabilities: number;
  maximalAccess: number;
}

export function parseTreeConnectResponse(msg: Buffer): TreeConnectResponse {
  const b = msg.subarray(HEADER_SIZE);
  if (b.length < 16) throw smbProtocolError('TREE_CONNECT response too short');
  return { shareType: b[2]!, shareFlags: b.readUInt32LE(4), capabilities: b.readUInt32LE(8), maximalAccess: b.readUInt32LE(12) };
}

export function treeDisconnectRequest(): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(4, 0);
  return b;
}
