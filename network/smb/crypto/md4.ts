/**
 * MD4 (RFC 1320), needed for the NT hash (MS-NLMP §3.3.1 NTOWFv1 = MD4(UNICODE(password))).
 * OpenSSL 3 moved MD4 to the legacy provider, which Node 20 does not load, so it lives here.
 * Inputs are passwords: short, so a straightforward implementation is enough.
 */
export function md4(input: Buffer): Buffer {
  const len = input.length;
  const padLen = ((len + 8) >> 6) * 64 + 64; // room for 0x80, zero pad and the 64-bit bit length
  const msg = Buffer.alloc(padLen);
  input.copy(msg);
  msg[len] = 0x80;
  msg.writeUInt32LE((len * 8) >>> 0, padLen - 8);
  msg.writeUInt32LE(Math.floor((len * 8) / 0x100000000), padLen - 4);

  let a = 0x67452301;
  let b = 0xefcdab89;
  let c = 0x98badcfe;
  let d = 0x10325476;
  const x = new Uint32Array(16);
  const rotl = (v: number, s: number) => (v << s) | (v >>> (32 - s));
  const f = (p: number, q: number, r: number) => (p & q) | (~p & r);
  const g = (p: number, q: number, r: number) => (p & q) | (p & r) | (q & r);
  const h = (p: number, q: number, r: number) => p ^ q ^ r;

  for (let off = 0; off < padLen; off += 64) {
    for (let i = 0; i < 16; i++) x[i] = msg.readUInt32LE(off + i * 4);
    const aa = a, bb = b, cc = c, dd = d;
    // Round 1
    for (const i of [0, 4, 8, 12]) {
      a = rotl((a + f(b, c, d) + x[i]!) | 0, 3);
      d = rotl((d + f(a, b, c) + x[i + 1]!) | 0, 7);
      c = rotl((c + f(d, a, b) + x[i + 2]!) | 0, 11);
      b = rotl((b + f(c, d, a) + x[i + 3]!) | 0, 19);
    }
    // Round 2
    for (const i of [0, 1, 2, 3]) {
      a = rotl((a + g(b, c, d) + x[i]! + 0x5a827999) | 0, 3);
      d = rotl((d + g(a, b, c) + x[i + 4]! + 0x5a827999) | 0, 5);
      c = rotl((c + g(d, a, b) + x[i + 8]! + 0x5a827999) | 0, 9);
      b = rotl((b + g(c, d, a) + x[i + 12]! + 0x5a827999) | 0, 13);
    }
    // Round 3
    for (const i of [0, 2, 1, 3]) {
      a = rotl((a + h(b, c, d) + x[i]! + 0x6ed9eba1) | 0, 3);
      d = rotl((d + h(a, b, c) + x[i + 8]! + 0x6ed9eba1) | 0, 9);
      c = rotl((c + h(d, a, b) + x[i + 4]! + 0x6ed9eba1) | 0, 11);
      b = rotl((b + h(c, d, a) + x[i + 12]! + 0x6ed9eba1) | 0, 15);
    }
    a = (a + aa) | 0;
    b = (b + bb) | 0;
    c = (c + cc) | 0;
    d = (d + dd) | 0;
  }
  const out = Buffer.alloc(16);
  out.writeInt32LE(a, 0);
  out.writeInt32LE(b, 4);
  out.writeInt32LE(c, 8);
  out.writeInt32LE(d, 12);
  return out;
}
