/**
 * A new, empty hive built from the format alone (base block, one hbin, the root nk with
 * KEY_HIVE_ENTRY|KEY_NO_DELETE, one sk): hivex cannot do this. The root's security descriptor
 * gives SYSTEM and Administrators full control and Users read, inherited by subkeys
 * (self-relative SECURITY_DESCRIPTOR, MS-DTYP 2.4.6).
 */
import { BASE_BLOCK_SIZE, baseBlockChecksum, toFiletime } from './base-block.js';

const SID_SYSTEM = Buffer.from('010100000000000512000000', 'hex'); // S-1-5-18
const SID_ADMINS = Buffer.from('01020000000000052000000020020000', 'hex'); // S-1-5-32-544
const SID_USERS = Buffer.from('01020000000000052000000021020000', 'hex'); // S-1-5-32-545
const KEY_ALL_ACCESS = 0xf003f;
const KEY_READ = 0x20019;
const CONTAINER_INHERIT_ACE = 0x02;

function ace(mask: number, sid: Buffer): Buffer {
  const a = Buffer.alloc(8 + sid.length);
  a[0] = 0; // ACCESS_ALLOWED_ACE_TYPE
  a[1] = CONTAINER_INHERIT_ACE;
  a.writeUInt16LE(a.length, 2);
  a.writeUInt32LE(mask, 4);
  sid.copy(a, 8);
  return a;
}

/** The default security descriptor of a new hive's root. */
export function defaultSecurityDescriptor(): Buffer {
  const aces = [ace(KEY_ALL_ACCESS, SID_SYSTEM), ace(KEY_ALL_ACCESS, SID_ADMINS), ace(KEY_READ, SID_USERS)];
  const aclBody = Buffer.concat(aces);
  const acl = Buffer.alloc(8 + aclBody.length);
  acl[0] = 2; // ACL_REVISION
  acl.writeUInt16LE(acl.length, 2);
  acl.writeUInt16LE(aces.length, 4);
  aclBody.copy(acl, 8);
  const head = Buffer.alloc(20);
  head[0] = 1; // revision
  head.writeUInt16LE(0x8004, 2); // SE_SELF_RELATIVE | SE_DACL_PRESENT
  const ownerOff = 20;
  const groupOff = ownerOff + SID_ADMINS.length;
  const daclOff = groupOff + SID_SYSTEM.length;
  head.writeUInt32LE(ownerOff, 4);
  head.writeUInt32LE(groupOff, 8);
  head.writeUInt32LE(0, 12);
  head.writeUInt32LE(daclOff, 16);
  return Buffer.concat([head, SID_ADMINS, SID_SYSTEM, acl]);
}

/** The file image of an empty hive (regf 1.`minor`) whose root key is named `rootName`. */
export function createEmptyHive(rootName = 'ROOT', minor = 5, when = new Date()): Buffer {
  const ft = toFiletime(when);
  const img = Buffer.alloc(BASE_BLOCK_SIZE + 4096);
  img.write('regf', 0, 'latin1');
  img.writeUInt32LE(1, 4);
  img.writeUInt32LE(1, 8);
  img.writeBigUInt64LE(ft, 12);
  img.writeUInt32LE(1, 20);
  img.writeUInt32LE(minor, 24);
  img.writeUInt32LE(0, 28); // primary file
  img.writeUInt32LE(1, 32); // direct memory load
  img.writeUInt32LE(0x20, 36); // root cell
  img.writeUInt32LE(4096, 40);
  img.writeUInt32LE(1, 44);
  Buffer.from(rootName.slice(0, 31), 'utf16le').copy(img, 48);
  img.writeUInt32LE(baseBlockChecksum(img), 508);

  const h = BASE_BLOCK_SIZE;
  img.write('hbin', h, 'latin1');
  img.writeUInt32LE(0, h + 4);
  img.writeUInt32LE(4096, h + 8);
  img.writeBigUInt64LE(ft, h + 20);

  const name = Buffer.from(rootName, 'latin1');
  const nkOff = 0x20;
  const nkSize = (4 + 76 + name.length + 7) & ~7;
  const skOff = nkOff + nkSize;
  const sd = defaultSecurityDescriptor();
  const skSize = (4 + 20 + sd.length + 7) & ~7;
  // root nk
  let p = h + nkOff;
  img.writeInt32LE(-nkSize, p);
  p += 4;
  img.write('nk', p, 'latin1');
  img.writeUInt16LE(0x2c, p + 2); // KEY_HIVE_ENTRY | KEY_NO_DELETE | KEY_COMP_NAME
  img.writeBigUInt64LE(ft, p + 4);
  img.writeUInt32LE(0xffffffff, p + 16); // no parent
  img.writeUInt32LE(0xffffffff, p + 28);
  img.writeUInt32LE(0xffffffff, p + 32);
  img.writeUInt32LE(0xffffffff, p + 40);
  img.writeUInt32LE(skOff, p + 44);
  img.writeUInt32LE(0xffffffff, p + 48);
  img.writeUInt16LE(name.length, p + 72);
  name.copy(img, p + 76);
  // sk: a list of one, pointing to itself
  p = h + skOff;
  img.writeInt32LE(-skSize, p);
  p += 4;
  img.write('sk', p, 'latin1');
  img.writeUInt32LE(skOff, p + 4);
  img.writeUInt32LE(skOff, p + 8);
  img.writeUInt32LE(1, p + 12);
  img.writeUInt32LE(sd.length, p + 16);
  sd.copy(img, p + 20);
  // the rest of the hbin is one free cell
  const freeOff = skOff + skSize;
  img.writeInt32LE(4096 - freeOff, h + freeOff);
  return img;
}
