/**
 * lseek(SEEK_DATA / SEEK_HOLE) from any thread. Node has no API for it; fs-ext has, but it is not
 * context-aware: loading it in a worker thread as well as the main thread crashes the process.
 * So only the main thread loads it, and a job's worker thread asks the main thread over a
 * MessagePort (file descriptors are per process, so the main thread can seek on the worker's fd).
 * A lookup is a few microseconds of metadata work; the round trip costs tens.
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

interface SeekRequest {
  id: number;
  fd: number;
  offset: number;
  whence: number;
}
interface SeekReply {
  id: number;
  offset?: number | null;
  code?: string;
}

let mainPort: MessagePort | undefined;
const waiting = new Map<number, { resolve(v: number | null): void; reject(e: Error): void }>();
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
    else w.resolve(m.offset ?? null);
  });
  port.unref(); // only a pending request keeps the thread alive
}

/** On the main thread: answer the seeks of one job thread. */
export function answerSeeks(port: MessagePort): void {
  port.on('message', (m: SeekRequest) => {
    let reply: SeekReply;
    try {
      reply = { id: m.id, offset: seekHere(m.fd, m.offset, m.whence) };
    } catch (e) {
      reply = { id: m.id, code: (e as NodeJS.ErrnoException).code ?? 'EIO' };
    }
    port.postMessage(reply);
  });
}

/** lseek on `fd`: directly on the main thread, through it from a job thread. */
export async function seekData(fd: number, offset: number, whence: number): Promise<number | null> {
  if (isMainThread) return seekHere(fd, offset, whence);
  const port = mainPort;
  if (!port) throw Object.assign(new Error('lseek is not available in this thread'), { code: 'EINVAL' });
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    port.ref();
    port.postMessage({ id, fd, offset, whence } satisfies SeekRequest);
  });
}
