import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCe, json } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { jobTypes } from '../../ce-server/jobs/job-types.js';

t.test('ce vda check-options', async (t) => {
  const dir = await tempDir(t);
  const good = join(dir, 'good.json');
  await writeFile(good, JSON.stringify({ vda: { components: { provisioningType: 'Mcs', installMisa: true, xdReconfigure: [{ parameterName: 'controllers', parameterValue: 'a.corp.example.com;b.corp.example.com' }] } } }));
  const ok = await runCe(['vda', 'check-options', '--options', good, '--json']);
  t.equal(ok.exitCode, 0, ok.stderr);
  t.same(json<{ components: { reconfigure: { controllers: string[] } } }>(ok).components.reconfigure.controllers, ['a.corp.example.com', 'b.corp.example.com']);

  const badFile = join(dir, 'bad.json');
  await writeFile(badFile, JSON.stringify({ vda: { components: { provisioningType: 'Pvs', installMcsio: true } } }));
  const text = await runCe(['vda', 'check-options', '--options', badFile]);
  t.match(text.stderr, /error VDA_OPTION_CONFLICT: installMcsio is forbidden/);
  t.match(text.stderr, /hint:/);
  t.equal(text.exitCode, 1);
});

t.test('the prepare job is the vda one and validates the component rules', async (t) => {
  const job = jobTypes.find((j) => j.type === 'prepare')!;
  t.ok(job);
  t.throws(() => job.validate!({ source: { kind: 'file', path: '/x' }, vda: { components: { xdReconfigure: [{ parameterName: 'controllers', parameterValue: 'a.example.com' }, { parameterName: 'site_guid', parameterValue: '{a1b2c3d4-0000-1111-2222-333344445555}' }] } } }), { code: 'VDA_OPTION_CONFLICT' });
  t.throws(() => job.validate!({ source: { kind: 'file', path: '/x' }, prepare: { platform: 'mars' } }), { code: 'PREPARE_BAD_OPTIONS' });
  t.doesNotThrow(() => job.validate!({ source: { kind: 'file', path: '/x' }, vda: { components: { installPvs: '2203.0.4000' }, firstBoot: { timeoutSeconds: 1800 } } }));
});
