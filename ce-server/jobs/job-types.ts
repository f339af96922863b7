/**
 * Every job type the server offers. Domain modules define them (core/job-type.ts);
 * add one line here to offer a new type over the API.
 */
import type { JobType } from '../../core/job-type.js';
import { inspectImageJob } from './inspect-image.js';
import { noopJob } from './noop.js';
import { convertJob } from '../../disk/jobs.js';
import { inspectWindowsJob } from '../../disk/windows/jobs.js';
import { prepareVdaJob } from '../../vda/job.js';
import { exportJob } from '../workflows/export.js';
import { publishJob } from '../workflows/publish.js';

export const jobTypes: JobType<any, any>[] = [inspectImageJob, noopJob, convertJob, inspectWindowsJob, prepareVdaJob, exportJob, publishJob];
