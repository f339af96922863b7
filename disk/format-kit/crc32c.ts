/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven (slice-by-4): the checksum
 * of VHDX headers, region tables and log entries (MS-VHDX §2.2.2, §2.2.3.1, §2.3.1.1).
 */
const POLY = 0x82f63b78;
const T = new Uint32Array(4 * 256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  T[i] = c >>> 0;
}
for (let i = 0; i < 256; i++) {
  for (let t = 1; t < 4; t++) T[t * 256 + i] = (T[(t - 1) * 256 + i] >>> 8) ^ T[T[(t - 1) * 256 + i] & 0xff];
}

export function crc32c(buf: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  let i = 0;
  const n = buf.length;
  for (; i + 4 <= n; i += 4) {
    c ^= buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    c = T[768 + (c & 0xff)] ^ T[512 + ((c >>> 8) & 0xff)] ^ T[256 + ((c >>> 16) & 0xff)] ^ T[c >>> 24];
  }
  for (; i < n; i++) c = T[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32C of `buf` computed with the 4-byte checksum field at `fieldOffset` taken as zero. */
export function crc32cWithZeroField(buf: Buffer, fieldOffset: number): number {
  const saved = buf.readUInt32LE(fieldOffset);
  buf.writeUInt32LE(0, fieldOffset);
  const c = crc32c(buf);
  buf.writeUInt32LE(saved, fieldOffset);
  return c;
}
