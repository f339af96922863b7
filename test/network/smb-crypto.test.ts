/** Unit tests of the SMB client's crypto and codecs against published vectors (no server). */
import t from 'tap';
import { createCipheriv, randomFillSync } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { md4 } from '../../network/smb/crypto/md4.js';
import { aesCmac, AesCmac } from '../../network/smb/crypto/cmac.js';
import { rc4 } from '../../network/smb/crypto/rc4.js';
import { kdfCounterHmacSha256, smb30Keys, smb311Keys, cstr } from '../../network/smb/crypto/kdf.js';
import { computeNtlmv2, encodeAvPairs, ntowfv2, NtlmClient, parseAvPairs } from '../../network/smb/ntlm.js';
import { negTokenInit, negTokenRespClient, parseNegTokenResp, tlv, OID_NTLMSSP } from '../../network/smb/spnego.js';
import { createSigner } from '../../network/smb/signing.js';
import { Encryptor } from '../../network/smb/encryption.js';
import { ioBuffer } from '../../network/smb/io-buffer.js';
import { Cipher, Dialect, SigningAlg } from '../../network/smb/packets/constants.js';
import { parseSmbUrl, redactUrl } from '../../network/smb/url.js';
import { readCredentialsFile, resolveCredential } from '../../network/smb/credentials.js';
import { SentHashes } from '../../network/smb/sent-hashes.js';
import { smbStatusError, Status } from '../../network/smb/status.js';
import { parseIdBothDirectory } from '../../network/smb/packets/info.js';
import { tempDir } from '../helpers/tmp.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

t.test('MD4 (RFC 1320 §A.5 vectors)', async (t) => {
  const v: Array<[string, string]> = [
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ];
  for (const [m, d] of v) t.equal(md4(Buffer.from(m)).toString('hex'), d, JSON.stringify(m));
});

t.test('AES-CMAC (RFC 4493 §4 vectors), one-shot and streamed', async (t) => {
  const k = hex('2b7e151628aed2a6abf7158809cf4f3c');
  const m = hex(
    '6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710',
  );
  const v: Array<[number, string]> = [
    [0, 'bb1d6929e95937287fa37d129b756746'],
    [16, '070a16b46b4d4144f79bdd9dd04a287c'],
    [40, 'dfa66747de9ae63030ca32611497c827'],
    [64, '51f0bebf7e3b9d92fc49741779363cfe'],
  ];
  for (const [n, d] of v) {
    t.equal(aesCmac(k, m.subarray(0, n)).toString('hex'), d, `${n} bytes`);
    for (const split of [1, 7, 16, 17, 33]) {
      if (split > n) continue;
      const c = new AesCmac(k);
      c.update(m.subarray(0, split)).update(m.subarray(split, n));
      t.equal(c.digest().toString('hex'), d, `${n} bytes split at ${split}`);
    }
  }
});

t.test('NTLMv2 (MS-NLMP §4.2.4 vectors)', async (t) => {
  const responseKey = ntowfv2('Password', 'User', 'Domain');
  t.equal(md4(Buffer.from('Password', 'utf16le')).toString('hex'), 'a4f49c406510bdcab6824ee7c30fd852', 'NTOWFv1 (§4.2.2.1.2)');
  t.equal(responseKey.toString('hex'), '0c868a403bfd7a93a3001ef22ef02e3f', 'NTOWFv2 / ResponseKeyNT');
  // AV pairs of the §4.2.4 CHALLENGE_MESSAGE: MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server", EOL
  const avPairs = hex('02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000');
  t.same(
    parseAvPairs(avPairs).map((p) => [p.id, p.value.toString('utf16le')]),
    [
      [2, 'Domain'],
      [1, 'Server'],
    ],
  );
  const r = computeNtlmv2(responseKey, hex('0123456789abcdef'), hex('aaaaaaaaaaaaaaaa'), Buffer.alloc(8), avPairs, false);
  t.equal(r.ntProofStr.toString('hex'), '68cd0ab851e51c96aabc927bebef6a1c', 'NTProofStr (§4.2.4.2.2)');
  t.equal(r.sessionBaseKey.toString('hex'), '8de40ccadbc14a82f15cb0ad0de95ca3', 'SessionBaseKey (§4.2.4.1.2)');
  t.equal(r.lmChallengeResponse.toString('hex'), '86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa', 'LMv2 response (§4.2.4.2.1)');
  t.equal(r.ntChallengeResponse.length, 84, 'NTLMv2 response length of the §4.2.4.3 message');
  // Key exchange (§4.2.4.2.3 EncryptedRandomSessionKey): RC4(SessionBaseKey, RandomSessionKey=0x55×16)
  t.equal(rc4(r.sessionBaseKey, Buffer.alloc(16, 0x55)).toString('hex'), 'c5dad2544fc9799094ce1ce90bc9d03e');
});

t.test('NtlmClient builds a well-formed AUTHENTICATE with MIC and key exchange', async (t) => {
  const c = new NtlmClient({ user: 'User', password: 'Password', domain: 'Domain' }, { fixed: { clientChallenge: hex('aaaaaaaaaaaaaaaa'), randomSessionKey: Buffer.alloc(16, 0x55) } });
  const neg = c.negotiate();
  t.equal(neg.subarray(0, 8).toString('latin1'), 'NTLMSSP\0');
  // A CHALLENGE with a timestamp (so a MIC is required) and the §4.2.4 AV pairs
  const ti = encodeAvPairs([
    { id: 2, value: Buffer.from('Domain', 'utf16le') },
    { id: 1, value: Buffer.from('Server', 'utf16le') },
    { id: 7, value: Buffer.alloc(8) },
  ]);
  const ch = Buffer.alloc(56 + ti.length);
  ch.write('NTLMSSP\0', 'latin1');
  ch.writeUInt32LE(2, 8);
  ch.writeUInt32LE(0xe28a8235, 20); // flags incl. KEY_EXCH, 128, EXTENDED_SESSIONSECURITY, TARGET_INFO
  hex('0123456789abcdef').copy(ch, 24);
  ch.writeUInt16LE(ti.length, 40);
  ch.writeUInt16LE(ti.length, 42);
  ch.writeUInt32LE(56, 44);
  ti.copy(ch, 56);
  const auth = c.authenticate(ch);
  t.equal(auth.readUInt32LE(8), 3);
  t.equal(auth.readUInt16LE(12), 24, 'LM response is Z(24) when the server sent a timestamp');
  t.ok(!auth.subarray(72, 88).equals(Buffer.alloc(16)), 'MIC filled');
  t.equal(c.sessionKey!.toString('hex'), '55'.repeat(16), 'exported session key = random session key');
  const mic = c.sign(Buffer.from('x'));
  t.equal(mic.length, 16);
  t.equal(mic.readUInt32LE(0), 1, 'NTLMSSP_MESSAGE_SIGNATURE version 1');
});

t.test('SPNEGO tokens round-trip', async (t) => {
  const init = negTokenInit(Buffer.from('TOKEN'));
  t.equal(init[0], 0x60);
  t.ok(init.includes(OID_NTLMSSP));
  const resp = negTokenRespClient(Buffer.from('AUTH'), Buffer.from('MIC0'));
  const parsed = parseNegTokenResp(resp);
  t.equal(parsed.responseToken?.toString(), 'AUTH');
  t.equal(parsed.mechListMic?.toString(), 'MIC0');
  const server = tlv(0xa1, tlv(0x30, tlv(0xa0, tlv(0x0a, Buffer.from([1]))), tlv(0xa1, tlv(0x06, OID_NTLMSSP)), tlv(0xa2, tlv(0x04, Buffer.alloc(300, 1)))));
  const p = parseNegTokenResp(server);
  t.equal(p.negState, 1);
  t.equal(p.responseToken?.length, 300, 'long-form DER lengths');
  t.throws(() => parseNegTokenResp(Buffer.from([0xa1, 0x85, 1])), { code: 'SMB_AUTH_PROTOCOL' });
});

t.test('SP800-108 KDF and SMB 3.x key schedule', async (t) => {
  const key = hex('7cd451825d0450d235424e44ba6e78cc');
  const k = kdfCounterHmacSha256(key, cstr('SMB2AESCMAC'), cstr('SmbSign'));
  t.equal(k.length, 16);
  t.same(smb30Keys(key).signingKey, k);
  const k30 = smb30Keys(key);
  t.not(k30.encryptionKey.toString('hex'), k30.decryptionKey.toString('hex'));
  const k311 = smb311Keys(key, Buffer.alloc(64, 1));
  t.not(k311.signingKey.toString('hex'), k.toString('hex'), '3.1.1 keys depend on the pre-auth hash');
});

t.test('SMB 3.0 KDF + AES-CMAC signature of a captured SESSION_SETUP response (cross-implementation vector)', async (t) => {
  // Session key, message (signature field zeroed) and signature as published in the go-smb test suite.
  const sessionKey = hex('726d4c454e63516446695457664e5042');
  const msg = hex(
    'fe534d42400001000000000001007f00090000000000000003000000000000000000000000000000020000007bfba3f4000000000000000000000000000000000900000048000900a1073005a0030a0100',
  );
  const signer = createSigner(Dialect.SMB3_0, undefined, smb30Keys(sessionKey).signingKey);
  t.equal(signer.sign([msg], 3n, true, false).toString('hex'), '041393e756a048c9092c4e52dc703719');
});

t.test('signers: GMAC nonce carries the direction bit; CMAC/HMAC are direction-free', async (t) => {
  const key = Buffer.alloc(16, 3);
  const msg = Buffer.alloc(100, 9);
  const gmac = createSigner(Dialect.SMB3_1_1, SigningAlg.AES_GMAC, key);
  t.equal(gmac.algorithm, 'AES-GMAC');
  const a = gmac.sign([msg], 5n, false, false);
  const b = gmac.sign([msg], 5n, true, false);
  t.not(a.toString('hex'), b.toString('hex'));
  // GMAC equals GCM with the message as AAD and the nonce MessageId ‖ flags
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64LE(5n);
  const c = createCipheriv('aes-128-gcm', key, nonce);
  c.setAAD(msg);
  c.final();
  t.same(a, c.getAuthTag());
  t.same(gmac.sign([msg.subarray(0, 30), msg.subarray(30)], 5n, false, false), a, 'split message signs the same');
  t.equal(createSigner(Dialect.SMB3_0, undefined, key).algorithm, 'AES-CMAC');
  t.equal(createSigner(Dialect.SMB2_1, undefined, key).algorithm, 'HMAC-SHA256');
});

t.test('transform header encryption round-trips (GCM and CCM) and detects tampering', async (t) => {
  // Both AES-GCM engines: the native addon when built (undefined), node:crypto (null).
  for (const [cipher, engine] of [[Cipher.AES128_GCM, undefined], [Cipher.AES128_GCM, null], [Cipher.AES128_CCM, undefined]] as const) {
    const k1 = Buffer.alloc(16, 1);
    const k2 = Buffer.alloc(16, 2);
    const client = new Encryptor(cipher, k1, k2, 77n, engine);
    const server = new Encryptor(cipher, k2, k1, 77n, engine);
    const parts = client.encrypt([Buffer.from('header-and-body'), Buffer.from('payload')]);
    const frame = Buffer.concat(parts);
    t.equal(server.decrypt(frame).toString(), 'header-and-bodypayload');
    frame[frame.length - 1]! ^= 1;
    t.throws(() => server.decrypt(frame), { code: 'SMB_DECRYPT_FAILED' });
    const p2 = Buffer.concat(client.encrypt([Buffer.from('x')]));
    t.not(p2.subarray(20, 36).toString('hex'), parts[0]!.subarray(20, 36).toString('hex'), 'nonce never repeats');
  }
});

t.test('off-thread GCM (worker, shared buffers) decrypts like the in-thread one; small or private payloads stay in-thread', async (t) => {
  const k1 = Buffer.alloc(16, 3);
  const k2 = Buffer.alloc(16, 4);
  const client = new Encryptor(Cipher.AES128_GCM, k1, k2, 9n, null); // node:crypto: the worker path
  const server = new Encryptor(Cipher.AES128_GCM, k2, k1, 9n, null);
  t.teardown(() => client.dispose());
  const head = Buffer.from('h'.repeat(112));
  const payload = ioBuffer(3 * 1024 * 1024 + 5);
  randomFillSync(payload);
  const frames = await Promise.all(
    [0, 1, 2, 3].map(async () => {
      const r = client.encryptLarge([head, payload]);
      t.ok(r, 'large shared payload goes to the worker');
      const { parts, written } = await r!;
      const frame = Buffer.concat(parts); // copy before the slot is reused
      written();
      return frame;
    }),
  );
  for (const f of frames) t.ok(server.decrypt(f).equals(Buffer.concat([head, payload])), 'round-trips');
  t.equal(new Set(frames.map((f) => f.subarray(20, 32).toString('hex'))).size, 4, 'distinct nonces');
  t.equal(client.encryptLarge([head, Buffer.alloc(1024 * 1024)]), undefined, 'payload not in shared memory: in-thread');
  t.equal(client.encryptLarge([head, ioBuffer(1000)]), undefined, 'small message: in-thread');
  t.equal(new Encryptor(Cipher.AES128_CCM, k1, k2, 9n).encryptLarge([head, payload]), undefined, 'CCM: in-thread');
});

t.test('smb:// URLs', async (t) => {
  const u = parseSmbUrl('smb://CORP;alice@files.example.com:4450/Images/win%2011/a.vhdx');
  t.same([u.domain, u.user, u.host, u.port, u.share, u.path], ['CORP', 'alice', 'files.example.com', 4450, 'Images', 'win 11\\a.vhdx']);
  t.equal(parseSmbUrl('smb://srv/share').path, '');
  t.equal(parseSmbUrl('smb://srv/share').port, 445);
  t.throws(() => parseSmbUrl('smb://bob:secret@srv/share/x'), { code: 'SMB_PASSWORD_IN_URL' });
  t.throws(() => parseSmbUrl('smb://srv'), { code: 'SMB_BAD_URL' });
  t.throws(() => parseSmbUrl('smb://srv/share/../etc'), { code: 'SMB_BAD_URL' });
  t.throws(() => parseSmbUrl('http://srv/share'), { code: 'SMB_BAD_URL' });
  t.notMatch(redactUrl('smb://bob:secret@srv/share'), /secret/);
});

t.test('credentials file: mode 0600 enforced, mount.cifs format', async (t) => {
  const dir = await tempDir(t);
  const f = join(dir, 'cred');
  await writeFile(f, 'username=CORP\\bob\npassword=p a=ss\n# comment\n');
  await chmod(f, 0o644);
  await t.rejects(readCredentialsFile(f), { code: 'SMB_CREDENTIALS_FILE_MODE' });
  await chmod(f, 0o600);
  t.same(await readCredentialsFile(f), { user: 'bob', password: 'p a=ss', domain: 'CORP' });
  const url = parseSmbUrl('smb://srv/share/x');
  t.same(await resolveCredential(url, { credentialsFile: f, env: {} }), { user: 'bob', password: 'p a=ss', domain: 'CORP' });
  await t.rejects(resolveCredential(parseSmbUrl('smb://u@srv/share/x'), { env: {} }), { code: 'SMB_NO_PASSWORD' });
  t.same(await resolveCredential(parseSmbUrl('smb://u@srv/share/x'), { env: { CE_SMB_PASSWORD: 'pw' } }), { user: 'u', password: 'pw', domain: '' });
  await t.rejects(resolveCredential(url, { env: {} }), { code: 'SMB_NO_USER' });
});

t.test('SentHashes plans a full read-back: extents, zero gaps, unverifiable overlaps', async (t) => {
  const h = new SentHashes();
  h.add(Buffer.alloc(100, 1), 0);
  h.add(Buffer.alloc(100, 2), 100); // contiguous: merged
  h.add(Buffer.alloc(50, 3), 500);
  h.add(Buffer.alloc(10, 4), 120); // partial overlap of [0,200): that extent becomes unverifiable
  const plan = h.plan(1000, 4096);
  t.ok(plan.some((p) => p.pos === 500 && p.len === 50 && p.digest));
  t.ok(plan.some((p) => p.pos === 120 && p.len === 10 && p.digest));
  t.ok(plan.some((p) => p.pos === 550 && p.len === 450 && !p.digest), 'tail gap must read as zero');
  t.notOk(plan.some((p) => p.pos < 120 && p.pos + p.len > 0 && !p.digest && p.pos === 0), 'overwritten ranges are not checked as zero');
  t.equal(h.unverifiableBytes, 190);
});

t.test('NT status mapping', async (t) => {
  t.equal(smbStatusError(Status.ACCESS_DENIED, 'open x').code, 'SMB_ACCESS_DENIED');
  t.equal(smbStatusError(Status.LOGON_FAILURE, 'session setup').code, 'SMB_LOGON_FAILURE');
  t.equal(smbStatusError(Status.BAD_NETWORK_NAME, 'tree').code, 'SMB_BAD_NETWORK_NAME');
  t.equal(smbStatusError(Status.DISK_FULL, 'write').code, 'SMB_DISK_FULL');
  const e = smbStatusError(0xc0001234, 'x');
  t.equal(e.code, 'SMB_REQUEST_FAILED');
  t.match(e.message, /0xc0001234/);
  t.ok(smbStatusError(Status.DISK_FULL, 'write').hint);
});

t.test('directory entries: bounds and loops are typed errors', async (t) => {
  const e = Buffer.alloc(104 + 4);
  e.writeUInt32LE(4, 60);
  e.write('a\0b\0', 104, 'latin1');
  t.equal(parseIdBothDirectory(e)[0]!.name, 'ab');
  e.writeUInt32LE(8, 0); // NextEntryOffset smaller than an entry: would loop
  t.throws(() => parseIdBothDirectory(e), { code: 'SMB_PROTOCOL' });
  e.writeUInt32LE(0, 0);
  e.writeUInt32LE(4000, 60);
  t.throws(() => parseIdBothDirectory(e), { code: 'SMB_PROTOCOL' });
});
