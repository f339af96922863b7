/**
 * Message signing (MS-SMB2 §3.1.4.1): HMAC-SHA256 (2.0.2/2.1, key = session key),
 * AES-128-CMAC (3.0, 3.0.2, and 3.1.1 without a signing context), AES-128-GMAC (3.1.1 when
 * negotiated; the nonce is MessageId ‖ role/cancel bits). The signature is 16 bytes at
 * header offset 48, computed with that field zeroed, over header + body (+ write payload).
 */
import { createCipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { AesCmac } from './crypto/cmac.js';
import { Cmd, Dialect, HdrFlags, SigningAlg } from './packets/constants.js';

export interface Signer {
  readonly algorithm: 'HMAC-SHA256' | 'AES-CMAC' | 'AES-GMAC';
  /** Signature over the message parts (header first, its signature field zero). */
  sign(parts: Buffer[], messageId: bigint, fromServer: boolean, isCancel: boolean): Buffer;
}

export function createSigner(dialect: number, signingAlg: number | undefined, key: Buffer): Signer {
  if (dialect < Dialect.SMB3_0) {
    return {
      algorithm: 'HMAC-SHA256',
      sign(parts) {
        const h = createHmac('sha256', key);
        for (const p of parts) h.update(p);
        return h.digest().subarray(0, 16);
      },
    };
  }
  if (dialect === Dialect.SMB3_1_1 && signingAlg === SigningAlg.AES_GMAC) {
    return {
      algorithm: 'AES-GMAC',
      sign(parts, messageId, fromServer, isCancel) {
        const nonce = Buffer.alloc(12);
        nonce.writeBigUInt64LE(messageId, 0);
        nonce.writeUInt32LE((fromServer ? 1 : 0) | (isCancel ? 2 : 0), 8);
        const c = createCipheriv('aes-128-gcm', key, nonce);
        for (const p of parts) c.setAAD(p); // GMAC = GCM with everything as AAD and no plaintext
        c.final();
        return c.getAuthTag();
      },
    };
  }
  if (dialect === Dialect.SMB3_1_1 && signingAlg === SigningAlg.HMAC_SHA256) return createSigner(Dialect.SMB2_1, undefined, key);
  return {
    algorithm: 'AES-CMAC',
    sign(parts) {
      const m = new AesCmac(key);
      for (const p of parts) m.update(p);
      return m.digest();
    },
  };
}

/**
 * Verify a received message in place (its signature field is zeroed as a side effect);
 * `rest` is the end of the message when it was received into another buffer.
 */
export function verifyMessage(signer: Signer, msg: Buffer, rest?: Buffer): boolean {
  const sig = Buffer.from(msg.subarray(48, 64));
  msg.fill(0, 48, 64);
  const flags = msg.readUInt32LE(16);
  const expected = signer.sign(rest ? [msg, rest] : [msg], msg.readBigUInt64LE(24), (flags & HdrFlags.SERVER_TO_REDIR) !== 0, msg.readUInt16LE(12) === Cmd.CANCEL);
  return timingSafeEqual(sig, expected);
}
