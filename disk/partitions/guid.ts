/** Mixed-endian GUID as stored by GPT and Windows (first three fields little-endian). */
export function guidFromBytes(b: Buffer, off = 0): string {
  const h = (s: number, e: number) => b.subarray(off + s, off + e).toString('hex');
  const le = (s: number, e: number) => Buffer.from(b.subarray(off + s, off + e)).reverse().toString('hex');
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${h(8, 10)}-${h(10, 16)}`;
}

export function guidToBytes(guid: string): Buffer {
  const hex = guid.replace(/[{}-]/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a GUID: ${guid}`);
  const b = Buffer.from(hex, 'hex');
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}

export const GPT_TYPES: Record<string, 'basic-data' | 'efi-system' | 'msr' | 'recovery' | 'linux'> = {
  'ebd0a0a2-b9e5-4433-87c0-68b6b72699c7': 'basic-data',
  'c12a7328-f81f-11d2-ba4b-00a0c93ec93b': 'efi-system',
  'e3c9e316-0b5c-4db8-817d-f92df00215ae': 'msr',
  'de94bba4-06d1-4d40-a16a-bfd50179d6ac': 'recovery',
  '0fc63daf-8483-4772-8e79-3d69d8477de4': 'linux',
};
