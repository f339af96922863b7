// The native AES-GCM addon (network/smb/native): the same bytes as node:crypto, in place or not,
// on shared memory too; bad tags and bad arguments are errors, never a crash. CI must have it
// built (setup.sh runs scripts/build-native.sh): a missing build step fails here instead of
// silently falling back to the slower node:crypto path.
import t from 'tap';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { nativeAead, nativeAeadStatus } from '../../network/smb/native-aead.js';
import { Encryptor, TRANSFORM_HEADER_SIZE } from '../../network/smb/encryption.js';
import { ioBuffer } from '../../network/smb/io-buffer.js';
import { Cipher } from '../../network/smb/packets/constants.js';

const aead = nativeAead();
if (process.env.CI === 'true') t.ok(aead, `CI builds the native AES-GCM addon (${nativeAeadStatus()})`);
if (!aead) {
  t.test('native AES-GCM', { skip: `not available: ${nativeAeadStatus()}` }, async () => {});
} else {
  const reference = (key: Buffer, iv: Buffer, aad: Buffer, msg: Buffer) => {
    const c = createCipheriv(key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm', key, iv);
    c.setAAD(aad);
    const ct = Buffer.concat([c.update(msg), c.final()]);
    return { ct, tag: c.getAuthTag() };
  };

  t.test('seal equals node:crypto (AES-128/256, parts, empty AAD and message, shared memory)', async (t) => {
    for (const keyLen of [16, 32]) {
      for (const size of [0, 1, 15, 16, 4096 + 7, 3 * 1024 * 1024 + 5]) {
        const key = randomBytes(keyLen);
        const iv = randomBytes(12);
        const aad = size % 2 ? randomBytes(32) : Buffer.alloc(0);
        const msg = randomBytes(size);
        const ref = reference(key, iv, aad, msg);
        const cut = Math.floor(size / 3);
        const parts = [msg.subarray(0, cut), Buffer.alloc(0), msg.subarray(cut)];
        const out = size > 4096 ? ioBuffer(size) : Buffer.alloc(size);
        const tag = Buffer.alloc(16);
        aead.seal(key, iv, aad, parts, out, tag);
        t.ok(out.equals(ref.ct) && tag.equals(ref.tag), `AES-${keyLen * 8}-GCM of ${size} bytes`);
      }
    }
  });

  t.test('in place: seal and open on the same buffer', async (t) => {
    const key = randomBytes(16);
    const iv = randomBytes(12);
    const aad = randomBytes(32);
    const msg = randomBytes(1 << 20);
    const buf = Buffer.from(msg);
    const tag = Buffer.alloc(16);
    aead.seal(key, iv, aad, [buf], buf, tag);
    t.ok(buf.equals(reference(key, iv, aad, msg).ct), 'sealed in place');
    t.equal(aead.open(key, iv, aad, tag, buf, buf), true, 'tag verifies');
    t.ok(buf.equals(msg), 'opened in place');
  });

  t.test('open: node:crypto ciphertext, tampering, wrong key or AAD', async (t) => {
    const key = randomBytes(16);
    const iv = randomBytes(12);
    const aad = randomBytes(32);
    const msg = randomBytes(70_000);
    const { ct, tag } = reference(key, iv, aad, msg);
    const out = Buffer.alloc(ct.length);
    t.equal(aead.open(key, iv, aad, tag, ct, out), true);
    t.ok(out.equals(msg));
    const bad = Buffer.from(ct);
    bad[12345]! ^= 1;
    t.equal(aead.open(key, iv, aad, tag, bad, out), false, 'a flipped bit fails the tag');
    t.equal(aead.open(randomBytes(16), iv, aad, tag, ct, out), false, 'wrong key');
    t.equal(aead.open(key, iv, randomBytes(32), tag, ct, out), false, 'wrong AAD');
    // And the other way round: node:crypto opens what seal made.
    const sealed = Buffer.alloc(msg.length);
    const tag2 = Buffer.alloc(16);
    aead.seal(key, iv, aad, [msg], sealed, tag2);
    const d = createDecipheriv('aes-128-gcm', key, iv);
    d.setAAD(aad);
    d.setAuthTag(tag2);
    t.ok(Buffer.concat([d.update(sealed), d.final()]).equals(msg), 'node:crypto opens it');
  });

  t.test('bad arguments throw (no crash)', async (t) => {
    const k = randomBytes(16);
    const iv = randomBytes(12);
    const tag = Buffer.alloc(16);
    const nb = <T = Buffer>(v: unknown) => v as T;
    t.throws(() => aead.seal(randomBytes(24), iv, Buffer.alloc(0), [Buffer.alloc(4)], Buffer.alloc(4), tag), /key must be 16 or 32/);
    t.throws(() => aead.seal(k, randomBytes(16), Buffer.alloc(0), [Buffer.alloc(4)], Buffer.alloc(4), tag), /IV must be 12/);
    t.throws(() => aead.seal(k, iv, Buffer.alloc(0), [Buffer.alloc(4)], Buffer.alloc(5), tag), /as long as the parts/);
    t.throws(() => aead.seal(k, iv, Buffer.alloc(0), [Buffer.alloc(4)], Buffer.alloc(4), Buffer.alloc(8)), /tag buffer must be 16/);
    t.throws(() => aead.seal(k, iv, Buffer.alloc(0), nb<Buffer[]>('x'), Buffer.alloc(4), tag), TypeError);
    t.throws(() => aead.seal(k, iv, Buffer.alloc(0), [nb(42)], Buffer.alloc(4), tag), TypeError);
    t.throws(() => aead.open(k, iv, Buffer.alloc(0), tag, Buffer.alloc(4), Buffer.alloc(3)), /as long as src/);
    t.throws(() => aead.open(k, iv, nb(undefined), tag, Buffer.alloc(4), Buffer.alloc(4)), TypeError);
    t.throws(() => (aead.open as unknown as (...a: unknown[]) => boolean)(k, iv), TypeError);
  });

  t.test('Encryptor: native and node:crypto interoperate; large messages go into reused slots', async (t) => {
    const k1 = randomBytes(16);
    const k2 = randomBytes(16);
    const native = new Encryptor(Cipher.AES128_GCM, k1, k2, 5n);
    const js = new Encryptor(Cipher.AES128_GCM, k2, k1, 5n, null);
    t.equal(native.engine, 'native');
    t.equal(js.engine, 'node:crypto');
    const head = randomBytes(112);
    const payload = randomBytes(2 * 1024 * 1024 + 3); // private memory is fine for the native path
    const whole = Buffer.concat([head, payload]);
    t.ok(js.decrypt(Buffer.concat(native.encrypt([head, payload]))).equals(whole), 'native encrypt → node:crypto decrypt');
    t.ok(native.decrypt(Buffer.concat(js.encrypt([head, payload]))).equals(whole), 'node:crypto encrypt → native decrypt');
    // Ahead into slots: more messages than slots, each released after it was "written".
    const frames = await Promise.all(
      [0, 1, 2, 3, 4].map(async (i) => {
        const r = native.encryptLarge([head, payload]);
        t.ok(r, 'a large message goes into a slot');
        const { parts, written } = await r!;
        const frame = Buffer.concat(parts);
        setTimeout(written, i * 5);
        return frame;
      }),
    );
    for (const f of frames) t.ok(js.decrypt(f).equals(whole), 'slot frame decrypts');
    t.equal(new Set(frames.map((f) => f.subarray(20, 32).toString('hex'))).size, frames.length, 'distinct nonces');
    // decryptPieces: checked before any piece is handed out, in place.
    const frame = Buffer.concat(js.encrypt([head, payload]));
    const pieces: Buffer[] = [];
    native.decryptPieces(Buffer.from(frame), (p) => pieces.push(Buffer.from(p)));
    t.ok(Buffer.concat(pieces).equals(whole), 'decryptPieces');
    frame[TRANSFORM_HEADER_SIZE + 100]! ^= 1;
    let handed = 0;
    t.throws(() => native.decryptPieces(frame, () => handed++), { code: 'SMB_DECRYPT_FAILED' });
    t.equal(handed, 0, 'nothing handed out from a frame that fails its tag');
  });
}

if (aead) {
  t.test('the addon loads in worker threads too (job threads run SMB transfers)', async (t) => {
    const { Worker } = await import('node:worker_threads');
    const { fileURLToPath } = await import('node:url');
    const addon = fileURLToPath(new URL('../../network/smb/native/ce-aead.node', import.meta.url));
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const a = require(workerData.addon);
      const out = Buffer.alloc(5), tag = Buffer.alloc(16);
      a.seal(Buffer.alloc(16, 7), Buffer.alloc(12, 1), Buffer.alloc(0), [Buffer.from('hello')], out, tag);
      parentPort.postMessage(Buffer.concat([out, tag]).toString('hex'));`;
    const results = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<string>((resolve, reject) => {
            const w = new Worker(code, { eval: true, workerData: { addon } });
            w.once('message', (m: string) => void w.terminate().then(() => resolve(m)));
            w.once('error', reject);
          }),
      ),
    );
    const c = createCipheriv('aes-128-gcm', Buffer.alloc(16, 7), Buffer.alloc(12, 1));
    const ref = Buffer.concat([c.update('hello'), c.final(), c.getAuthTag()]).toString('hex');
    t.same(results, [ref, ref], 'two threads, the same bytes as node:crypto');
  });
}
