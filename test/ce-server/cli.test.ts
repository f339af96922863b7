import t from 'tap';
import { runCe, json } from '../helpers/cli.js';

t.test('ce --help lists the commands; serve --help lists config with env names', async (t) => {
  const h = await runCe(['--help']);
  t.equal(h.exitCode, 0);
  t.match(h.stdout, /serve/);
  t.match(h.stdout, /version/);
  const s = await runCe(['serve', '--help']);
  t.match(s.stdout, /--port <n>/);
  t.match(s.stdout, /CE_PORT/);
  t.match(s.stdout, /--client-fingerprints/);
});

t.test('ce version --json', async (t) => {
  const r = await runCe(['version', '--json']);
  t.equal(r.exitCode, 0);
  t.match(json(r), { version: /^\d+\.\d+\.\d+/ });
});

t.test('bad config gives a typed error', async (t) => {
  const r = await runCe(['serve', '--port', 'eighty', '--json']);
  t.equal(r.exitCode, 1);
  t.equal(json<{ error: { code: string } }>(r).error.code, 'CONFIG_INVALID');
});
