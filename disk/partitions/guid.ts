/** GPT and Windows store GUIDs mixed-endian (first three fields little-endian), like VHDX: one codec for all. */
export { guidToString as guidFromBytes, guidFromString as guidToBytes } from '../format-kit/guid.js';

export const GPT_TYPES: Record<string, 'basic-data' | 'efi-system' | 'msr' | 'recovery' | 'linux'> = {
  'ebd0a0a2-b9e5-4433-87c0-68b6b72699c7': 'basic-data',
  'c12a7328-f81f-11d2-ba4b-00a0c93ec93b': 'efi-system',
  'e3c9e316-0b5c-4db8-817d-f92df00215ae': 'msr',
  'de94bba4-06d1-4d40-a16a-bfd50179d6ac': 'recovery',
  '0fc63daf-8483-4772-8e79-3d69d8477de4': 'linux',
};
