/** Decoders of registry facts (no disks): LSA strings, SIDs, MountedDevices data, plan rendering. */
import t from 'tap';
import { decodeLsaString, decodeMountedDevice, decodeSid } from '../../disk/windows/registry-facts.js';
import { lsaString, unjoinScript } from '../../network/domain/unjoin.js';
import { guidToBytes } from '../../disk/partitions/guid.js';
import { formatPlan, sameValue, showValue } from '../../disk/windows/plan.js';
import { validatePrepareOptions } from '../../disk/windows/prepare.js';

t.test('LSA UNICODE_STRING blobs round-trip; malformed ones decode to empty', async (t) => {
  const b = lsaString('WORKGROUP');
  t.equal(b.toString('hex'), '120014000800000057004f0052004b00470052004f00550050000000', 'as in the fixture SECURITY hive');
  t.equal(decodeLsaString(b), 'WORKGROUP');
  t.equal(decodeLsaString(Buffer.alloc(0)), '');
  const bad = Buffer.from(b);
  bad.writeUInt16LE(500, 0); // length beyond the buffer
  t.equal(decodeLsaString(bad), '');
});

t.test('SIDs', async (t) => {
  t.equal(decodeSid(Buffer.from('010400000000000515000000aabbccdd1122334455667788', 'hex')), 'S-1-5-21-3721182122-1144201745-2289526357');
  t.equal(decodeSid(Buffer.from('0104000000000005', 'hex')), '', 'truncated');
  t.equal(decodeSid(Buffer.alloc(0)), '');
});

t.test('MountedDevices data: MBR, GPT, CD-ROM, unknown', async (t) => {
  t.same(decodeMountedDevice(Buffer.from('fe4c3e270000f01500000000', 'hex')), { kind: 'mbr', diskSignature: '273e4cfe', offset: 0x15f00000 });
  const g = '6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
  t.same(decodeMountedDevice(Buffer.concat([Buffer.from('DMIO:ID:', 'latin1'), guidToBytes(g)])), { kind: 'gpt', partitionGuid: g });
  t.match(decodeMountedDevice(Buffer.from('\\??\\SCSI#CdRom&Ven_VBOX#1', 'utf16le')), { kind: 'device', deviceClass: 'cdrom' });
  t.match(decodeMountedDevice(Buffer.from('\\??\\USBSTOR#Disk&Ven_X#1', 'utf16le')), { kind: 'device', deviceClass: 'usb' });
  t.match(decodeMountedDevice(Buffer.from([1, 2, 3])), { kind: 'unknown', hex: '010203' });
});

t.test('plan values compare and render', async (t) => {
  t.ok(sameValue({ type: 7, data: ['D:\\pagefile.sys 0 0'] }, 7, ['D:\\pagefile.sys 0 0']));
  t.notOk(sameValue({ type: 1, data: 'x' }, 2, 'x'), 'type matters');
  t.same(showValue({ type: 3, data: Buffer.from([1, 2]) }), { type: 3, data: '0102' });
  t.same(showValue({ type: 11, data: 5n }), { type: 11, data: '5' });
  t.match(formatPlan({ changes: [], warnings: ['w'], notes: ['n'] }), /No changes\.\nnote: n\nwarning: w/);
  t.match(unjoinScript('WORKGROUP'), /\r\nRemove-Computer -WorkgroupName 'WORKGROUP' -Force\r\n/);
  t.match(unjoinScript("O'$X"), /-WorkgroupName 'O''\$X' -Force/, 'quotes doubled, $ stays literal in a single-quoted literal');
});

t.test('prepare options are validated', async (t) => {
  t.same(validatePrepareOptions({ ceVmSku: 'Standard_D2s_v3', domainUnjoin: 'offline', vda: { installMisa: true } }), { ceVmSku: 'Standard_D2s_v3', domainUnjoin: 'offline', vda: { installMisa: true } });
  for (const bad of [[], null, { foo: 1 }, { platform: 'mars' }, { pagefile: 'yes' }, { maxResourceVolumeMB: -1 }, { vda: [] }]) {
    t.throws(() => validatePrepareOptions(bad), { code: 'PREPARE_BAD_OPTIONS' }, JSON.stringify(bad));
  }
});
