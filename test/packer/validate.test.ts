/**
 * `packer validate` on every source of packer/ce.pkr.hcl. Full validation (each builder's
 * Prepare: required settings, types, file provisioner sources) runs with dummy variables: none of
 * the five builders contacts its cloud before `build` in packer 1.6.6, so no credentials are
 * needed. -syntax-only covers the template without any variable file.
 */
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../../core/tools.js';
import { tempDir } from '../helpers/tmp.js';
import { ROOT } from '../helpers/cli.js';

const TEMPLATE = join(ROOT, 'packer/ce.pkr.hcl');
const SOURCES = ['azure-arm.ce', 'amazon-ebs.ce', 'googlecompute.ce', 'vsphere-clone.ce', 'qemu.ce'];

async function dummyVars(dir: string, omit: string[] = []): Promise<string> {
  await writeFile(join(dir, 'ce.tar.gz'), '');
  await writeFile(join(dir, 'base.qcow2'), '');
  const vars: Record<string, string> = {
    release_tarball: join(dir, 'ce.tar.gz'),
    qemu_base_image: join(dir, 'base.qcow2'),
    azure_subscription_id: '00000000-0000-0000-0000-000000000000',
    azure_tenant_id: '00000000-0000-0000-0000-000000000000',
    azure_client_id: '00000000-0000-0000-0000-000000000000',
    azure_client_secret: 'dummy-client-secret',
    azure_resource_group: 'ce-images',
    aws_access_key: 'AKIADUMMYDUMMYDUMMY0',
    aws_secret_key: 'dummy-aws-secret-key',
    gcp_project_id: 'ce-dummy-project',
    vsphere_server: 'vcenter.invalid',
    vsphere_username: 'packer@vsphere.local',
    vsphere_password: 'dummy-vsphere-password',
    vsphere_cluster: 'cluster1',
    vsphere_ssh_password: 'dummy-ssh-password',
  };
  for (const k of omit) delete vars[k];
  const file = join(dir, 'dummy.pkrvars.hcl');
  await writeFile(file, Object.entries(vars).map(([k, v]) => `${k} = ${JSON.stringify(v)}\n`).join(''));
  return file;
}

t.test('the template is formatted and syntactically valid', async (t) => {
  const fmt = await runTool('packer', ['fmt', '-check', TEMPLATE], { allowFailure: true, cwd: ROOT });
  t.equal(fmt.exitCode, 0, 'packer fmt -check' + (fmt.exitCode ? `: ${fmt.stdout}` : ''));
  const syn = await runTool('packer', ['validate', '-syntax-only', TEMPLATE], { allowFailure: true, cwd: ROOT });
  t.equal(syn.exitCode, 0, 'packer validate -syntax-only' + (syn.exitCode ? `: ${syn.stderr || syn.stdout}` : ''));
});

t.test('full validate of all five sources with dummy variables', async (t) => {
  const dir = await tempDir(t);
  const r = await runTool('packer', ['validate', `-var-file=${await dummyVars(dir)}`, TEMPLATE], { allowFailure: true, cwd: ROOT });
  t.equal(r.exitCode, 0, 'packer validate' + (r.exitCode ? `: ${r.stderr || r.stdout}` : ''));
  // Every source is part of the one build (no platform without the shared provisioning).
  const hcl = await readFile(TEMPLATE, 'utf8');
  for (const s of SOURCES) {
    const [type, name] = s.split('.');
    t.match(hcl, new RegExp(`source "${type}" "${name}"`), `source ${s} is defined`);
    t.match(hcl, new RegExp(`"source\\.${s.replace('.', '\\.')}"`), `source ${s} is built`);
  }
});

t.test('validate names what is missing', async (t) => {
  const dir = await tempDir(t);
  const r = await runTool('packer', ['validate', `-var-file=${await dummyVars(dir, ['azure_resource_group', 'gcp_project_id'])}`, TEMPLATE], {
    allowFailure: true,
    cwd: ROOT,
  });
  t.not(r.exitCode, 0);
  t.match(r.stdout + r.stderr, /managed_image_resource_group_name/);
  t.match(r.stdout + r.stderr, /project_id must be specified/);
  t.notMatch(r.stdout + r.stderr, /dummy-client-secret/, 'secrets never printed');
});
