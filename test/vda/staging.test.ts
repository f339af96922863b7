import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile, readdir, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { LocalComponentSource, readManifest, requiredInstallers, stageComponents, checkComponentSource, validateManifest } from '../../vda/staging.js';
import { validateComponentOptions } from '../../vda/options.js';
import { COMPONENTS_DIR } from '../../vda/firstboot/layout.js';
import { SmbComponentSource } from '../../vda/staging-smb.js';
import { startSamba } from '../helpers/samba.js';
import { needs } from '../helpers/env.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function source(t: Parameters<typeof tempDir>[0], files: Record<string, Buffer>, manifest: unknown) {
  const dir = await tempDir(t);
  for (const [n, b] of Object.entries(files)) await writeFile(join(dir, n), b);
  await writeFile(join(dir, 'manifest.json'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
  return new LocalComponentSource(dir);
}

t.test('stages installers with their hashes checked, streaming in chunks', async (t) => {
  const pvs = randomBytes(9 * 1024 * 1024 + 17); // more than two 4 MiB chunks
  const src = await source(t, { 'PVS_Device_x64_2203.exe': pvs }, { files: { 'PVS_Device_x64_2203.exe': sha(pvs) }, components: { 'pvs@2203.0.4000': 'PVS_Device_x64_2203.exe' } });
  const manifest = await readManifest(src);
  const needed = requiredInstallers(validateComponentOptions({ installPvs: '2203.0.4000' }), manifest);
  t.same(needed, [{ component: 'pvs', file: 'PVS_Device_x64_2203.exe' }], 'the manifest picks the file for this version');
  const vol = await tempDir(t);
  let bytes = 0;
  const staged = await stageComponents(src, needed, manifest, vol, { onBytes: (n) => (bytes += n) });
  t.same(staged, [{ component: 'pvs', file: 'PVS_Device_x64_2203.exe', path: `${COMPONENTS_DIR}/PVS_Device_x64_2203.exe`, size: pvs.length, sha256: sha(pvs) }]);
  t.equal(bytes, pvs.length);
  t.ok((await readFile(join(vol, COMPONENTS_DIR, 'PVS_Device_x64_2203.exe'))).equals(pvs));
});

t.test('a hash mismatch leaves nothing behind', async (t) => {
  const msi = randomBytes(1000);
  const src = await source(t, { 'MachineIdentityServiceAgent_x64.msi': msi }, { files: { 'MachineIdentityServiceAgent_x64.msi': sha(Buffer.from('other')) } });
  const vol = await tempDir(t);
  const manifest = await readManifest(src);
  await t.rejects(stageComponents(src, [{ component: 'misa', file: 'MachineIdentityServiceAgent_x64.msi' }], manifest, vol), { code: 'COMPONENT_HASH_MISMATCH' });
  t.same(await readdir(join(vol, COMPONENTS_DIR)), [], 'no partial file left');
});

t.test('missing installers and bad manifests are typed errors naming the file', async (t) => {
  const src = await source(t, {}, { files: { 'MCSIO_x64.msi': 'a'.repeat(64) } });
  const manifest = await readManifest(src);
  const e = await checkComponentSource(src, [{ component: 'mcsio', file: 'MCSIO_x64.msi' }], manifest).catch((x) => x);
  t.equal(e.code, 'COMPONENT_SOURCE_MISSING');
  t.match(e.message, /MCSIO_x64\.msi/);
  const e2 = await checkComponentSource(src, [{ component: 'misa', file: 'MachineIdentityServiceAgent_x64.msi' }], manifest).catch((x) => x);
  t.equal(e2.code, 'COMPONENT_SOURCE_MISSING', 'not in the manifest');
  t.match(e2.message, /MachineIdentityServiceAgent_x64\.msi/);

  t.throws(() => validateManifest({ files: { '../evil.exe': 'a'.repeat(64) } }), { code: 'COMPONENT_MANIFEST_INVALID' });
  t.throws(() => validateManifest({ files: { 'x.msi': 'nothex' } }), { code: 'COMPONENT_MANIFEST_INVALID' });
  t.throws(() => validateManifest({ files: [] }), { code: 'COMPONENT_MANIFEST_INVALID' });
  t.throws(() => validateManifest({ files: {}, components: { misa: 'a/b.msi' } }), { code: 'COMPONENT_MANIFEST_INVALID' });
  const notJson = await source(t, {}, '{nope');
  await t.rejects(readManifest(notJson), { code: 'COMPONENT_MANIFEST_INVALID' });
  const empty = await tempDir(t);
  await mkdir(join(empty, 'x'));
  await t.rejects(readManifest(new LocalComponentSource(empty)), { code: 'COMPONENT_MANIFEST_MISSING' });
  await t.rejects(new LocalComponentSource(empty).open('..'), { code: 'COMPONENT_MANIFEST_INVALID' });
});

t.test('an SMB component source (real smbd): staged with hashes, missing file named', { skip: needs({ root: true }) }, async (t) => {
  const s = await startSamba(t, { shares: [{ name: 'citrix' }] });
  const misa = randomBytes(3 * 1024 * 1024 + 5);
  const dir = join(s.sharePath('citrix'), 'vda2203');
  await mkdir(dir);
  await writeFile(join(dir, 'MachineIdentityServiceAgent_x64.msi'), misa);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify({ files: { 'MachineIdentityServiceAgent_x64.msi': sha(misa), 'MCSIO_x64.msi': 'b'.repeat(64) } }));
  const src = new SmbComponentSource(s.url('citrix', 'vda2203'), { credential: { user: s.user, password: s.password } });
  t.teardown(() => src.close());
  t.notMatch(src.name, new RegExp(s.password), 'no secret in the name');
  const manifest = await readManifest(src);
  const vol = await tempDir(t);
  const staged = await stageComponents(src, [{ component: 'misa', file: 'MachineIdentityServiceAgent_x64.msi' }], manifest, vol);
  t.equal(staged[0]!.sha256, sha(misa));
  t.ok((await readFile(join(vol, COMPONENTS_DIR, 'MachineIdentityServiceAgent_x64.msi'))).equals(misa));
  const e = await checkComponentSource(src, [{ component: 'mcsio', file: 'MCSIO_x64.msi' }], manifest).catch((x) => x);
  t.equal(e.code, 'COMPONENT_SOURCE_MISSING');
  t.match(e.message, /MCSIO_x64\.msi/);
});
