/**
 * `prepare` over real HTTPS with client certificates on a synthetic Windows disk (real NTFS, real
 * hives): pagefile for the CE SKU, offline domain unjoin and VDA controllers; the dry run leaves
 * the image byte-identical; the applied edits are read back with hivexget after the job.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { call, readEvents } from '../helpers/https.js';
import { startTestService } from '../helpers/service.js';
import { needs } from '../helpers/env.js';
import { buildWindowsDisk } from '../helpers/windows-disk.js';
import { ensureHostBuilt } from '../helpers/vda-host.js';
import { withWindowsImage } from '../../disk/windows/image.js';

const skip = needs({ root: true, loop: true, fuse: true });
const finalState = (e: { event: string; data: { state?: string } }) => e.event === 'state' && ['succeeded', 'failed', 'cancelled', 'interrupted'].includes(e.data.state ?? '');
const sha = async (p: string) => createHash('sha256').update(await readFile(p)).digest('hex');

async function hivexget(hive: string, key: string, value: string): Promise<string> {
  return String((await execa('hivexget', [hive, key, value], { reject: false })).stdout).trim();
}

t.test('prepare job: dry run, then apply (pagefile + unjoin + VDA controllers)', { skip }, async (t) => {
  await ensureHostBuilt();
  const disk = await buildWindowsDisk(t, { scheme: 'gpt', joined: true, citrix: { vda: '2203.0.4000' } });
  const s = await startTestService(t);
  const body = {
    type: 'prepare',
    source: { kind: 'file', path: disk.path },
    prepare: { platform: 'azure', ceVmSku: 'Standard_D2s_v3', pagefile: true, domainUnjoin: 'offline', disableFastStartup: true },
    vda: {
      components: { provisioningType: 'Mcs', xdReconfigure: [{ parameterName: 'controllers', parameterValue: 'cc1.corp.example.com cc2.corp.example.com' }] },
      firstBoot: { mode: 'stage' },
    },
  };
  const before = await sha(disk.path);
  const dry = await call(s.base, s.client, 'POST', '/v1/jobs', { ...body, dryRun: true });
  t.equal(dry.status, 202, JSON.stringify(dry.body));
  await readEvents(s.base, s.client, `/v1/jobs/${dry.body.id}/events`, finalState, 180_000);
  const dryJob = (await call(s.base, s.client, 'GET', `/v1/jobs/${dry.body.id}`)).body;
  t.equal(dryJob.state, 'succeeded', JSON.stringify(dryJob.error));
  t.equal(await sha(disk.path), before, 'dry run: the image is byte-identical');
  const wheres = (dryJob.result.changes as Array<{ where: string }>).map((c) => c.where);
  t.ok(wheres.some((w) => /Memory Management\\PagingFiles$/.test(w)), 'plan: pagefile');
  t.ok(wheres.some((w) => /Policy\\PolPrDmS/.test(w)), 'plan: domain SID cleared');
  t.ok(wheres.some((w) => /ListOfDDCs$/.test(w)), 'plan: controllers');

  const real = await call(s.base, s.client, 'POST', '/v1/jobs', body);
  const events = await readEvents(s.base, s.client, `/v1/jobs/${real.body.id}/events`, finalState, 300_000);
  const job = (await call(s.base, s.client, 'GET', `/v1/jobs/${real.body.id}`)).body;
  t.equal(job.state, 'succeeded', JSON.stringify(job.error));
  t.ok(events.some((e) => e.event === 'step'), 'steps reported');
  t.ok(job.steps.length >= 2, 'timings per step');
  t.not(await sha(disk.path), before, 'the image changed');

  await withWindowsImage(disk.path, { readOnly: true }, async (img) => {
    const system = (await img.hivePath('SYSTEM'))!;
    const software = (await img.hivePath('SOFTWARE'))!;
    const security = (await img.hivePath('SECURITY'))!;
    t.match(await hivexget(system, '\\ControlSet001\\Control\\Session Manager\\Memory Management', 'PagingFiles'), /D:\\pagefile\.sys 0 0/, 'pagefile on the temp disk D:');
    t.equal(await hivexget(software, '\\Citrix\\VirtualDesktopAgent', 'ListOfDDCs'), 'cc1.corp.example.com cc2.corp.example.com');
    const sid = await execa('hivexget', [security, '\\Policy\\PolPrDmS'], { reject: false });
    t.notMatch(String(sid.stdout), /S-1-5-21/, 'no primary domain SID any more');
  });
});
