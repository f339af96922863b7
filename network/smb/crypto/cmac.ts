/**
 * AES-128-CMAC (RFC 4493), the SMB 3.0/3.0.2 signing algorithm (MS-SMB2 §3.1.4.1). Node has no
 * CMAC, so it is built on aes-128-cbc with a zero IV and padding off: CBC-MAC of all blocks but the
 * last, whose block is XORed with subkey K1 (complete) or K2 (padded with 10*) before the final
 * encryption. Streaming: update() may be called with any split of the message.
 */
import { createCipheriv, type Cipher } from 'node:crypto';

const ZERO16 = Buffer.alloc(16);

function dbl(b: Buffer): Buffer {
  // Multiply by x in GF(2^128): shift left one bit, XOR 0x87 into the last byte on carry.
  const out = Buffer.alloc(16);
  let carry = 0;
  for (let i = 15; i >= 0; i--) {
    const v = b[i]!;
    out[i] = ((v << 1) | carry) & 0xff;
    carry = v >> 7;
  }
  if (b[0]! & 0x80) out[15]! ^= 0x87;
  return out;
}

export function cmacSubkeys(key: Buffer): { k1: Buffer; k2: Buffer } {
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  const l = c.update(ZERO16);
  const k1 = dbl(l);
  return { k1, k2: dbl(k1) };
}

export class AesCmac {
  private readonly cbc: Cipher;
  private readonly k1: Buffer;
  private readonly k2: Buffer;
  /** Bytes not yet fed to CBC: always 0..16 bytes, and the last block is held back until digest(). */
  private pending: Buffer = Buffer.alloc(0);

  constructor(key: Buffer) {
    const { k1, k2 } = cmacSubkeys(key);
    this.k1 = k1;
    this.k2 = k2;
    this.cbc = createCipheriv('aes-128-cbc', key, ZERO16);
    this.cbc.setAutoPadding(false);
  }

  update(data: Buffer): this {
    const all = this.pending.length ? Buffer.concat([this.pending, data]) : data;
    if (all.length <= 16) {
      this.pending = Buffer.from(all);
      return this;
    }
    // Feed every complete block except the last one (which may need the K1 treatment).
    const feed = all.length - (all.length % 16 || 16);
    this.cbc.update(all.subarray(0, feed));
    this.pending = Buffer.from(all.subarray(feed));
    return this;
  }

  digest(): Buffer {
    const last = Buffer.alloc(16);
    if (this.pending.length === 16) {
      for (let i = 0; i < 16; i++) last[i] = this.pending[i]! ^ this.k1[i]!;
    } else {
      this.pending.copy(last);
      last[this.pending.length] = 0x80;
      for (let i = 0; i < 16; i++) last[i]! ^= this.k2[i]!;
    }
    return this.cbc.update(last);
  }
}

export function aesCmac(key: Buffer, ...parts: Buffer[]): Buffer {
  const m = new AesCmac(key);
  for (const p of parts) m.update(p);
  return m.digest();
}
