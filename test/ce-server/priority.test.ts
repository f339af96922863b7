/**
 * The API thread's priority in `ce serve` (ce-server/server/priority.ts): raised when allowed,
 * `off` changes nothing, and --api-nice / CE_API_NICE are parsed by the config.
 */
import t from 'tap';
import { readFileSync, readlinkSync } from 'node:fs';
import { getPriority } from 'node:os';
import { prioritizeApiThread } from '../../ce-server/server/priority.js';
import { loadConfig } from '../../ce-server/config.js';

const self = () => Number(readlinkSync('/proc/thread-self').split('/').pop());
const niceOf = (tid: number) => {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
};

t.test('off leaves the thread as it is', async (t) => {
  t.equal(prioritizeApiThread('off'), null);
});

t.test('the API thread is raised when allowed (root), else kept', { skip: process.platform !== 'linux' && 'Linux only' }, async (t) => {
  const before = getPriority(self());
  t.equal(niceOf(self()), before, 'getPriority reads this thread');
  const nice = prioritizeApiThread(-5);
  t.equal(nice, process.getuid?.() === 0 ? -5 : before);
  t.equal(niceOf(self()), nice, 'the kernel sees it on this thread');
});

t.test('config: --api-nice, CE_API_NICE, off, bounds', async (t) => {
  t.equal(loadConfig({}, {}).apiNice, -5);
  t.equal(loadConfig({ apiNice: '-10' }, {}).apiNice, -10);
  t.equal(loadConfig({}, { CE_API_NICE: 'off' }).apiNice, 'off');
  t.throws(() => loadConfig({ apiNice: '-30' }, {}), { code: 'CONFIG_INVALID' });
});
