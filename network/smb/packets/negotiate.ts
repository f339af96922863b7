/**
 * NEGOTIATE request/response (MS-SMB2 §2.2.3, §2.2.4) with the SMB 3.1.1 negotiate contexts:
 * pre-auth integrity (SHA-512 + salt), encryption (AES-128-GCM/CCM) and signing (AES-GMAC/CMAC,
 * HMAC-SHA256) capabilities (§2.2.3.1).
 */
import { randomBytes } from 'node:crypto';
import { Cap, Cipher, Dialect, HashAlg, HEADER_SIZE, NegCtx, SecurityMode, SigningAlg } from './constants.js';
import { smbProtocolError } from '../status.js';

export interface NegotiateRequestOptions {
  dialects: number[];
  clientGuid: Buffer;
  signingRequired: boolean;
  /** Cipher preference (most preferred first) for 3.1.1. */
  ciphers?: number[];
  signingAlgorithms?: number[];
  salt?: Buffer;
}

function context(type: number, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(type, 0);
  h.writeUInt16LE(data.length, 2);
  const pad = (8 - ((8 + data.length) % 8)) % 8;
  return Buffer.concat([h, data, Buffer.alloc(pad)]);
}

function u16list(values: number[], prefix: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(2 + values.length * 2);
  b.writeUInt16LE(values.length, 0);
  values.forEach((v, i) => b.writeUInt16LE(v, 2 + i * 2));
  return Buffer.concat([b.subarray(0, 2), prefix, b.subarray(2)]);
}

export function negotiateRequest(o: NegotiateRequestOptions): Buffer {
  const has311 = o.dialects.includes(Dialect.SMB3_1_1);
  const fixed = Buffer.alloc(36);
  fixed.writeUInt16LE(36, 0);
  fixed.writeUInt16LE(o.dialects.length, 2);
  fixed.writeUInt16LE(o.signingRequired ? SecurityMode.SIGNING_REQUIRED | SecurityMode.SIGNING_ENABLED : SecurityMode.SIGNING_ENABLED, 4);
  // Encryption capability matters for 3.0/3.0.2 (3.1.1 uses the context).
  fixed.writeUInt32LE(Cap.LARGE_MTU | Cap.ENCRYPTION, 8);
  o.clientGuid.copy(fixed, 12);
  const dialects = Buffer.alloc(o.dialects.length * 2);
  o.dialects.forEach((d, i) => dialects.writeUInt16LE(d, i * 2));
  if (!has311) return Buffer.concat([fixed, dialects]);

  const ctxStart = HEADER_SIZE + 36 + dialects.length;
  const pad = Buffer.alloc((8 - (ctxStart % 8)) % 8);
  // PreauthIntegrityCapabilities: HashAlgorithmCount, SaltLength, HashAlgorithms, Salt
  const salt = o.salt ?? randomBytes(32);
  const preauth = Buffer.alloc(6);
  preauth.writeUInt16LE(1, 0);
  preauth.writeUInt16LE(salt.length, 2);
  preauth.writeUInt16LE(HashAlg.SHA512, 4);
  const ctxs = [
    context(NegCtx.PREAUTH_INTEGRITY, Buffer.concat([preauth, salt])),
    context(NegCtx.ENCRYPTION, u16list(o.ciphers ?? [Cipher.AES128_GCM, Cipher.AES128_CCM])),
    context(NegCtx.SIGNING, u16list(o.signingAlgorithms ?? [SigningAlg.AES_GMAC, SigningAlg.AES_CMAC, SigningAlg.HMAC_SHA256])),
  ];
  // The last context carries no trailing padding.
  const last = ctxs.length - 1;
  ctxs[last] = ctxs[last]!.subarray(0, 8 + ctxs[last]!.readUInt16LE(2));
  fixed.writeUInt32LE(ctxStart + pad.length, 28);
  fixed.writeUInt16LE(ctxs.length, 32);
  return Buffer.concat([fixed, dialects, pad, ...ctxs]);
}

export interface NegotiateResponse {
  securityMode: number;
  dialect: number;
  serverGuid: Buffer;
  capabilities: number;
  maxTransactSize: number;
  maxReadSize: number;
  maxWriteSize: number;
  securityBuffer: Buffer;
  /** 3.1.1 selections */
  preauthHashAlg?: number;
  cipher?: number;
  signingAlg?: number;
}

/** Parse a NEGOTIATE response body; `msg` is the whole SMB2 message (offsets are from its start). */
export function parseNegotiateResponse(msg: Buffer): NegotiateResponse {
  const b = msg.subarray(HEADER_SIZE);
  if (b.length < 64 || b.readUInt16LE(0) !== 65) throw smbProtocolError('NEGOTIATE response too short');
  const secOff = b.readUInt16LE(56);
  const secLen = b.readUInt16LE(58);
  if (secOff + secLen > msg.length) throw smbProtocolError('NEGOTIATE security buffer out of range');
  const r: NegotiateResponse = {
    securityMode: b.readUInt16LE(2),
    dialect: b.readUInt16LE(4),
    serverGuid: Buffer.from(b.subarray(8, 24)),
    capabilities: b.readUInt32LE(24),
    maxTransactSize: b.readUInt32LE(28),
    maxReadSize: b.readUInt32LE(32),
    maxWriteSize: b.readUInt32LE(36),
    securityBuffer: Buffer.from(msg.subarray(secOff, secOff + secLen)),
  };
  if (r.dialect === Dialect.SMB3_1_1) {
    const count = b.readUInt16LE(6);
    let off = b.readUInt32LE(60);
    for (let i = 0; i < count; i++) {
      off = (off + 7) & ~7;
      if (off + 8 > msg.length) throw smbProtocolError('negotiate context out of range');
      const type = msg.readUInt16LE(off);
      const len = msg.readUInt16LE(off + 2);
      const data = msg.subarray(off + 8, off + 8 + len);
      if (data.length < len) throw smbProtocolError('negotiate context out of range');
      if (type === NegCtx.PREAUTH_INTEGRITY && len >= 6) r.preauthHashAlg = data.readUInt16LE(4);
      else if (type === NegCtx.ENCRYPTION && len >= 4) r.cipher = data.readUInt16LE(2);
      else if (type === NegCtx.SIGNING && len >= 4) r.signingAlg = data.readUInt16LE(2);
      off += 8 + len;
    }
  }
  return r;
}
