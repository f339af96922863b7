/**
 * Small decoders for Windows registry facts shared by inspection and the edit modules:
 * LSA Policy attributes (windows.md §3.4), MountedDevices data (§3.3), value helpers.
 */
import type { HiveKey, RegData } from '../hive/types.js';
import { guidFromBytes } from '../partitions/guid.js';

export function str(k: HiveKey | undefined, name: string): string | undefined {
  const d = k?.value(name)?.data;
  if (typeof d === 'string') return d;
  if (Array.isArray(d)) return d.join(' ');
  return undefined;
}

export function num(k: HiveKey | undefined, name: string): number | undefined {
  const d = k?.value(name)?.data;
  if (typeof d === 'number') return d;
  if (typeof d === 'bigint') return Number(d);
  if (typeof d === 'string' && /^\d+$/.test(d)) return Number(d);
  return undefined;
}

export function multi(k: HiveKey | undefined, name: string): string[] | undefined {
  const d = k?.value(name)?.data;
  if (Array.isArray(d)) return d.filter((s) => s !== '');
  if (typeof d === 'string') return d ? [d] : [];
  return undefined;
}

export function rawOf(d: RegData | undefined): Buffer | undefined {
  if (d === undefined) return undefined;
  if (Buffer.isBuffer(d)) return d;
  return undefined;
}

/** The default value of a Policy attribute key as raw bytes ('' when empty/absent). */
export function policyRaw(k: HiveKey | undefined): Buffer {
  const v = k?.value('');
  if (!v) return Buffer.alloc(0);
  return v.raw;
}

/** LSA UNICODE_STRING-style attribute: u16 length, u16 max, u32 offset, then UTF-16LE (windows.md §3.4). */
export function decodeLsaString(b: Buffer): string {
  if (b.length < 8) return '';
  const len = b.readUInt16LE(0);
  const off = b.readUInt32LE(4);
  if (len === 0 || off + len > b.length) return '';
  return b.subarray(off, off + len).toString('utf16le');
}

/** A binary SID (revision, count, 48-bit authority, sub-authorities) as S-1-5-21-…; '' when empty or malformed. */
export function decodeSid(b: Buffer): string {
  if (b.length < 8) return '';
  const rev = b[0];
  const count = b[1];
  if (b.length < 8 + count * 4) return '';
  const auth = b.readUIntBE(2, 6);
  const subs: number[] = [];
  for (let i = 0; i < count; i++) subs.push(b.readUInt32LE(8 + i * 4));
  return `S-${rev}-${auth}${subs.map((s) => `-${s}`).join('')}`;
}

export type MountedDeviceTarget =
  | { kind: 'mbr'; diskSignature: string; offset: number }
  | { kind: 'gpt'; partitionGuid: string }
  | { kind: 'device'; path: string; deviceClass: 'cdrom' | 'usb' | 'floppy' | 'other' }
  | { kind: 'unknown'; hex: string };

/** Decode `MountedDevices` data: 12-byte MBR (signature + offset), `DMIO:ID:` + GUID, or a UTF-16 device path (§3.3). */
export function decodeMountedDevice(b: Buffer): MountedDeviceTarget {
  if (b.length === 12) return { kind: 'mbr', diskSignature: b.readUInt32LE(0).toString(16).padStart(8, '0'), offset: Number(b.readBigUInt64LE(4)) };
  if (b.length === 24 && b.subarray(0, 8).toString('latin1') === 'DMIO:ID:') return { kind: 'gpt', partitionGuid: guidFromBytes(b, 8) };
  if (b.length >= 8 && b.length % 2 === 0 && b[1] === 0 && b[0] === 0x5c) {
    const path = b.toString('utf16le').replace(/\0+$/, '');
    const u = path.toUpperCase();
    const deviceClass = u.includes('CDROM') ? 'cdrom' : u.includes('USBSTOR') ? 'usb' : u.includes('FDC#') || u.includes('FLOPPY') ? 'floppy' : 'other';
    return { kind: 'device', path, deviceClass };
  }
  return { kind: 'unknown', hex: b.toString('hex') };
}
