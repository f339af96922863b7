/**
 * `noop`: waits `seconds`, reporting progress, and changes nothing. The connector can use it to
 * check the whole path (mTLS, job store, event stream) before sending real work; tests use it as
 * a job that runs long enough to be cancelled or interrupted.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { defineJobType } from '../../core/job-type.js';
import { throwIfCancelled } from '../../core/errors.js';

export const noopJob = defineJobType<{ seconds?: number }, { waitedSeconds: number }>({
  type: 'noop',
  description: 'Wait `seconds` reporting progress, change nothing (connectivity check).',
  optionsSchema: {
    type: 'object',
    properties: { seconds: { type: 'number', minimum: 0, maximum: 3600, default: 0 } },
  },
  async run(ctx) {
    const total = Math.round((ctx.options.seconds ?? 0) * 1000);
    ctx.step('wait');
    const start = Date.now();
    while (Date.now() - start < total) {
      throwIfCancelled(ctx.signal);
      await sleep(Math.min(100, total - (Date.now() - start)), undefined, { signal: ctx.signal }).catch(() => undefined);
      const done = Math.min(total, Date.now() - start);
      ctx.progress({ bytesDone: done, bytesTotal: total, rate: 1000, etaSeconds: (total - done) / 1000 });
    }
    throwIfCancelled(ctx.signal);
    return { waitedSeconds: total / 1000 };
  },
});
