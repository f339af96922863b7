/**
 * Thread priorities of `ce serve` (ce-server/server/priority.ts): the API thread is raised when
 * allowed, every other thread of the process goes to the job threads' nice, `off` changes nothing;
 * and --api-nice / CE_API_NICE are parsed by the config.
 */
import t from 'tap';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { getPriority } from 'node:os';
import { BULK_THREAD_NICE, prioritizeApiThread } from '../../ce-server/server/priority.js';
import { loadConfig } from '../../ce-server/config.js';

const linux = process.platform === 'linux';
const self = () => Number(readlinkSync('/proc/thread-self').split('/').pop());
const niceOf = (tid: number) => {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
};

t.test('off leaves every thread as it is', async (t) => {
  t.same(prioritizeApiThread('off'), { apiThreadNice: null, lowered: 0 });
});

t.test('the API thread is raised (as root) and the others lowered', { skip: !linux && 'Linux only' }, async (t) => {
  const root = process.getuid?.() === 0;
  const before = getPriority(self());
  const r = prioritizeApiThread(-5);
  t.equal(r.apiThreadNice, root ? -5 : before, 'raised only with the right to');
  t.equal(niceOf(self()), r.apiThreadNice);
  const others = readdirSync('/proc/self/task').map(Number).filter((tid) => tid !== self());
  t.ok(others.length > 0, 'node has helper threads');
  for (const tid of others) t.ok(niceOf(tid) >= BULK_THREAD_NICE, `thread ${tid} at nice >= ${BULK_THREAD_NICE}`);
});

t.test('config: --api-nice, CE_API_NICE, off, bounds', async (t) => {
  t.equal(loadConfig({}, {}).apiNice, -5);
  t.equal(loadConfig({ apiNice: '-10' }, {}).apiNice, -10);
  t.equal(loadConfig({}, { CE_API_NICE: 'off' }).apiNice, 'off');
  t.throws(() => loadConfig({ apiNice: '-30' }, {}), { code: 'CONFIG_INVALID' });
});
