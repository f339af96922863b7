/**
 * RC4, used only by NTLM key exchange (MS-NLMP §3.1.5.1.2: EncryptedRandomSessionKey) and by the
 * NTLMSSP signature checksum sealing (§3.4.4.2). OpenSSL 3 has it only in the legacy provider.
 * A stateful stream: the NTLM sealing handle keeps its state across messages.
 */
export class Rc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

  constructor(key: Buffer) {
    const s = this.s;
    for (let k = 0; k < 256; k++) s[k] = k;
    let j = 0;
    for (let k = 0; k < 256; k++) {
      j = (j + s[k]! + key[k % key.length]!) & 0xff;
      const t = s[k]!;
      s[k] = s[j]!;
      s[j] = t;
    }
  }

  update(data: Buffer): Buffer {
    const s = this.s;
    const out = Buffer.allocUnsafe(data.length);
    let i = this.i;
    let j = this.j;
    for (let k = 0; k < data.length; k++) {
      i = (i + 1) & 0xff;
      j = (j + s[i]!) & 0xff;
      const t = s[i]!;
      s[i] = s[j]!;
      s[j] = t;
      out[k] = data[k]! ^ s[(s[i]! + s[j]!) & 0xff]!;
    }
    this.i = i;
    this.j = j;
    return out;
  }
}

export function rc4(key: Buffer, data: Buffer): Buffer {
  return new Rc4(key).update(data);
}
