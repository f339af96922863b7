/**
 * Marvin32 (the hash of the HvLE transaction-log entries; regf spec, "New format", log entry notes 1-3).
 * Returns the 64-bit result as (s1 << 32) | s0, as Windows stores it.
 */
export const HVLE_SEED = 0x82ef4d887a4e55c5n;

export function marvin32(data: Uint8Array, seed: bigint = HVLE_SEED): bigint {
  let s0 = Number(seed & 0xffffffffn) >>> 0;
  let s1 = Number((seed >> 32n) & 0xffffffffn) >>> 0;
  const n = data.length;
  const dv = new DataView(data.buffer, data.byteOffset, n);
  const full = n & ~3;
  for (let i = 0; i < full; i += 4) {
    s0 = (s0 + dv.getUint32(i, true)) >>> 0;
    // block(s0, s1), inlined for speed
    s1 = (s1 ^ s0) >>> 0; s0 = ((s0 << 20) | (s0 >>> 12)) >>> 0;
    s0 = (s0 + s1) >>> 0; s1 = ((s1 << 9) | (s1 >>> 23)) >>> 0;
    s1 = (s1 ^ s0) >>> 0; s0 = ((s0 << 27) | (s0 >>> 5)) >>> 0;
    s0 = (s0 + s1) >>> 0; s1 = ((s1 << 19) | (s1 >>> 13)) >>> 0;
  }
  let fin = 0x80;
  for (let i = n - 1; i >= full; i--) fin = ((fin << 8) | data[i]!) >>> 0;
  s0 = (s0 + fin) >>> 0;
  for (let r = 0; r < 2; r++) {
    s1 = (s1 ^ s0) >>> 0; s0 = ((s0 << 20) | (s0 >>> 12)) >>> 0;
    s0 = (s0 + s1) >>> 0; s1 = ((s1 << 9) | (s1 >>> 23)) >>> 0;
    s1 = (s1 ^ s0) >>> 0; s0 = ((s0 << 27) | (s0 >>> 5)) >>> 0;
    s0 = (s0 + s1) >>> 0; s1 = ((s1 << 19) | (s1 >>> 13)) >>> 0;
  }
  return (BigInt(s1) << 32n) | BigInt(s0);
}
