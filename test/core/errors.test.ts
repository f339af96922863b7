import t from 'tap';
import { CeError, toCeError } from '../../core/errors.js';
import { redactSecrets } from '../../core/redact.js';
import { ProgressMeter, type Progress } from '../../core/progress.js';

t.test('CeError serialises without stack', async (t) => {
  const e = new CeError('VHD_FOOTER_CHECKSUM', 'bad footer', { hint: 'the file is damaged', details: { offset: 1 } });
  t.same(JSON.parse(JSON.stringify(e)), { code: 'VHD_FOOTER_CHECKSUM', message: 'bad footer', hint: 'the file is damaged', details: { offset: 1 } });
  t.equal(e.status, 422);
});

t.test('toCeError maps errno and unknown errors', async (t) => {
  const enoent = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
  t.equal(toCeError(enoent).code, 'FILE_NOT_FOUND');
  t.equal(toCeError(new Error('boom')).code, 'INTERNAL');
  t.equal(toCeError(new Error('boom')).status, 500);
});

t.test('redactSecrets hides secrets at any depth', async (t) => {
  const out = redactSecrets({ a: { smb: { credential: { username: 'u', password: 'p@ss' } } }, list: [{ token: 'x' }], password: '' });
  t.notMatch(JSON.stringify(out), /p@ss/);
  t.equal((out.list[0] as { token: string }).token, '[redacted]');
  t.equal(out.password, '', 'empty values stay empty');
});

t.test('ProgressMeter computes rate and ETA', async (t) => {
  let now = 0;
  const seen: Progress[] = [];
  const m = new ProgressMeter((p) => seen.push(p), 1000, 'copy', 0, 5000, () => now);
  m.set(0);
  now = 1000;
  m.set(100);
  const last = seen[seen.length - 1]!;
  t.equal(last.rate, 100);
  t.equal(last.etaSeconds, 9);
  t.equal(last.step, 'copy');
});
