/**
 * lseek(SEEK_DATA / SEEK_HOLE) from any thread. Node has no API for it; fs-ext has, but it is not
 * context-aware: loading it in a worker thread as well as the main thread crashes the process.
 * So only the main thread loads it, and a job's worker thread asks the main thread over a
 * MessagePort (file descriptors are per process, so the main thread can seek on the worker's fd).
 * A lookup is a few microseconds of metadata work; the round trip costs tens, and each one wakes
 * the API thread: so a thread asks for data extents in batches (seekExtents), up to EXTENTS_PER_REPLY
 * per round trip, instead of two round trips per extent (4 exports of a 1 GiB image in 1 MiB runs
 * were ~4000 wake-ups of the API thread in their first second).
 */
import { createRequire } from 'node:module';
import { isMainThread, type MessagePort } from 'node:worker_threads';

export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

type SeekSync = (fd: number, offset: number, whence: number) => number;
let seekSync: SeekSync | undefined;

/** The offset, or null when there is no data (or hole) past `offset` (ENXIO). Throws other errno errors. */
function seekHere(fd: number, offset: number, whence: number): number | null {
  seekSync ??= (createRequire(import.meta.url)('fs-ext') as { seekSync: SeekSync }).seekSync;
  try {
    return seekSync(fd, offset, whence);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENXIO') return null;
    throw e;
  }
}

/** Extents per reply: ~2 lseek calls each, so a reply holds the API thread for a millisecond or two at most. */
export const EXTENTS_PER_REPLY = 512;

interface SeekRequest {
  id: number;
  fd: number;
  offset: number;
  whence: number;
  /** With `limit`: the data extents from `offset` (seekExtents), not one lseek. */
  limit?: number;
}
interface SeekReply {
  id: number;
  offset?: number | null;
  extents?: Extents;
  code?: string;
}

/** Data extents [start0, end0, start1, end1, …] from an offset, and where to continue (null: no more data before the limit). */
export interface Extents {
  list: number[];
  next: number | null;
}

/** Up to EXTENTS_PER_REPLY data extents of [offset, limit), by SEEK_DATA/SEEK_HOLE here. */
function extentsHere(fd: number, offset: number, limit: number): Extents {
  const list: number[] = [];
  let pos = offset;
  while (pos < limit) {
    if (list.length >= 2 * EXTENTS_PER_REPLY) return { list, next: pos };
    const data = seekHere(fd, pos, SEEK_DATA);
    if (data === null || data >= limit) break;
    const end = Math.min(seekHere(fd, data, SEEK_HOLE) ?? limit, limit);
    if (end <= data) break;
    list.push(data, end);
    pos = end;
  }
  return { list, next: null };
}

let mainPort: MessagePort | undefined;
const waiting = new Map<number, { resolve(v: number | Extents | null): void; reject(e: Error): void }>();
let nextId = 1;

/** In a job thread: seek through the main thread on this port (see answerSeeks). */
export function seekThroughMainThread(port: MessagePort): void {
  mainPort = port;
  port.on('message', (m: SeekReply) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (waiting.size === 0) port.unref();
    if (!w) return;
    if (m.code) w.reject(Object.assign(new Error(`lseek: ${m.code}`), { code: m.code }));
    else w.resolve(m.extents ?? m.offset ?? null);
  });
  port.unref(); // only a pending request keeps the thread alive
}

/** On the main thread: answer the seeks of one job thread. */
export function answerSeeks(port: MessagePort): void {
  port.on('message', (m: SeekRequest) => {
    let reply: SeekReply;
    try {
      reply = m.limit === undefined ? { id: m.id, offset: seekHere(m.fd, m.offset, m.whence) } : { id: m.id, extents: extentsHere(m.fd, m.offset, m.limit) };
    } catch (e) {
      reply = { id: m.id, code: (e as NodeJS.ErrnoException).code ?? 'EIO' };
    }
    port.postMessage(reply);
  });
}

/** lseek on `fd`: directly on the main thread, through it from a job thread. */
export async function seekData(fd: number, offset: number, whence: number): Promise<number | null> {
  if (isMainThread) return seekHere(fd, offset, whence);
  return (await ask({ id: 0, fd, offset, whence })) as number | null;
}

/** The next batch of data extents of `fd` in [offset, limit): one round trip from a job thread. Throws errno errors (EINVAL: no SEEK_DATA). */
export async function seekExtents(fd: number, offset: number, limit: number): Promise<Extents> {
  if (isMainThread) return extentsHere(fd, offset, limit);
  return (await ask({ id: 0, fd, offset, whence: SEEK_DATA, limit })) as Extents;
}

function ask(req: SeekRequest): Promise<number | Extents | null> {
  const port = mainPort;
  if (!port) return Promise.reject(Object.assign(new Error('lseek is not available in this thread'), { code: 'EINVAL' }));
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    port.ref();
    port.postMessage({ ...req, id } satisfies SeekRequest);
  });
}
