/**
 * Every job type the server offers. Domain modules define them (core/job-type.ts);
 * add one line here to offer a new type over the API.
 */
import type { JobType } from '../../core/job-type.js';
import { inspectImageJob } from './inspect-image.js';
import { convertJob } from '../../disk/jobs.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const jobTypes: JobType<any, any>[] = [inspectImageJob, convertJob];
