/**
 * SP800-108 KDF in counter mode with HMAC-SHA256, r = 32, L = 128 (MS-SMB2 §3.1.4.2):
 * K = HMAC-SHA256(Ki, [i=1]₃₂ ‖ Label ‖ 0x00 ‖ Context ‖ [L]₃₂)[0..16].
 * Labels and contexts are passed with their trailing NUL where MS-SMB2 §3.2.5.3.1 says so
 * ("SMB2AESCMAC\0"), hence two zero bytes after the label.
 */
import { createHmac } from 'node:crypto';

export function kdfCounterHmacSha256(ki: Buffer, label: Buffer, context: Buffer, bits = 128): Buffer {
  const i = Buffer.from([0, 0, 0, 1]);
  const l = Buffer.alloc(4);
  l.writeUInt32BE(bits);
  return createHmac('sha256', ki)
    .update(i)
    .update(label)
    .update(Buffer.from([0]))
    .update(context)
    .update(l)
    .digest()
    .subarray(0, bits / 8);
}

/** An ASCII string with its terminating NUL, as MS-SMB2 writes labels and contexts. */
export function cstr(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'latin1'), Buffer.from([0])]);
}

export interface Smb3Keys {
  signingKey: Buffer;
  /** client → server (ServerIn) */
  encryptionKey: Buffer;
  /** server → client (ServerOut) */
  decryptionKey: Buffer;
  applicationKey: Buffer;
}

/** SMB 3.0 / 3.0.2 keys: fixed contexts (MS-SMB2 §3.2.5.3.1). */
export function smb30Keys(sessionKey: Buffer): Smb3Keys {
  return {
    signingKey: kdfCounterHmacSha256(sessionKey, cstr('SMB2AESCMAC'), cstr('SmbSign')),
    encryptionKey: kdfCounterHmacSha256(sessionKey, cstr('SMB2AESCCM'), cstr('ServerIn ')),
    decryptionKey: kdfCounterHmacSha256(sessionKey, cstr('SMB2AESCCM'), cstr('ServerOut')),
    applicationKey: kdfCounterHmacSha256(sessionKey, cstr('SMB2APP'), cstr('SmbRpc')),
  };
}

/** SMB 3.1.1 keys: the context is the session's pre-authentication integrity hash (SHA-512). */
export function smb311Keys(sessionKey: Buffer, preauthHash: Buffer): Smb3Keys {
  return {
    signingKey: kdfCounterHmacSha256(sessionKey, cstr('SMBSigningKey'), preauthHash),
    encryptionKey: kdfCounterHmacSha256(sessionKey, cstr('SMBC2SCipherKey'), preauthHash),
    decryptionKey: kdfCounterHmacSha256(sessionKey, cstr('SMBS2CCipherKey'), preauthHash),
    applicationKey: kdfCounterHmacSha256(sessionKey, cstr('SMBAppKey'), preauthHash),
  };
}
