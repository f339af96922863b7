/** `ce job …` against a real service over mutual TLS. */
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { runCe, json } from '../helpers/cli.js';
import { startTestService } from '../helpers/service.js';
import { tempDir } from '../helpers/tmp.js';

t.test('submit --watch, status, list, log, cancel', async (t) => {
  const s = await startTestService(t);
  const dir = await tempDir(t);
  const conn = ['--url', s.base, '--tls-dir', s.svc.identity.dir];
  await writeFile(`${dir}/job.json`, JSON.stringify({ type: 'noop', seconds: 0.3 }));
  const w = await runCe(['job', 'submit', `${dir}/job.json`, '--watch', '--json', ...conn]);
  t.equal(w.exitCode, 0, w.stderr);
  const lines = w.stdout.trim().split('\n');
  const final = JSON.parse(lines.slice(lines.findIndex((l) => l.startsWith('{\n') || l === '{')).join('\n') || '{}') as { state?: string; id?: string };
  t.equal(final.state, 'succeeded');
  t.ok(lines.some((l) => l.includes('"event":"progress"')), 'progress lines with --json');

  const st = await runCe(['job', 'status', final.id!, '--json', ...conn]);
  t.equal(json<{ state: string }>(st).state, 'succeeded');
  const human = await runCe(['job', 'status', final.id!, ...conn]);
  t.match(human.stdout, /noop\s+succeeded/);
  const list = await runCe(['job', 'list', '--json', ...conn]);
  t.equal(json<{ jobs: unknown[] }>(list).jobs.length, 1);
  const log = await runCe(['job', 'log', final.id!, ...conn]);
  t.match(log.stdout, /job succeeded/);

  await writeFile(`${dir}/long.json`, JSON.stringify({ type: 'noop', seconds: 60 }));
  const sub = json<{ id: string }>(await runCe(['job', 'submit', `${dir}/long.json`, '--json', ...conn]));
  const c = await runCe(['job', 'cancel', sub.id, '--json', ...conn]);
  t.equal(json<{ state: string }>(c).state, 'cancelled');
});

t.test('typed errors: unreachable CE, missing identity, unknown job', async (t) => {
  const s = await startTestService(t);
  const down = await runCe(['job', 'list', '--json', '--url', 'https://127.0.0.1:1', '--tls-dir', s.svc.identity.dir]);
  t.equal(down.exitCode, 1);
  t.equal(json<{ error: { code: string } }>(down).error.code, 'API_UNREACHABLE');
  const noId = await runCe(['job', 'list', '--json', '--url', s.base, '--tls-dir', '/nonexistent']);
  t.equal(json<{ error: { code: string } }>(noId).error.code, 'CLIENT_TLS_FILE_MISSING');
  const unknown = await runCe(['job', 'status', 'nope', '--json', '--url', s.base, '--tls-dir', s.svc.identity.dir]);
  t.equal(json<{ error: { code: string } }>(unknown).error.code, 'JOB_NOT_FOUND');
});
