/**
 * A client of the CE API over mutual TLS: JSON requests and the server-sent event stream.
 * Used by `ce job …` and by the tests (so the tests exercise the same code users run).
 */
import { request as httpsRequest, Agent } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CeError } from '../../core/errors.js';

export interface ClientIdentity {
  cert?: string;
  key?: string;
  ca: string;
}

/** Read client.crt, client.key and ca.crt from a TLS directory (e.g. ./var/tls of `npm start`). */
export function identityFromDir(tlsDir: string): ClientIdentity {
  const read = (f: string) => readFileSync(join(tlsDir, f), 'utf8');
  return { cert: read('client.crt'), key: read('client.key'), ca: read('ca.crt') };
}

export interface HttpResult<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  text: string;
}

export interface SseEvent<T = unknown> {
  event: string;
  data: T;
}

export class CeClient {
  /** With keepAlive, requests reuse TLS connections (pollers); default: one connection per request. */
  private readonly agent: Agent | false;

  constructor(
    readonly base: string,
    readonly identity: ClientIdentity,
    opts: { keepAlive?: boolean; maxSockets?: number } = {},
  ) {
    this.agent = opts.keepAlive ? new Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 16, cert: identity.cert, key: identity.key, ca: identity.ca }) : false;
  }

  /** Close kept-alive connections. */
  close(): void {
    if (this.agent) this.agent.destroy();
  }

  request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult<T>> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = httpsRequest(
        new URL(path, this.base),
        {
          method,
          cert: this.identity.cert,
          key: this.identity.key,
          ca: this.identity.ca,
          agent: this.agent,
          headers: { ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}), ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              /* not JSON (logs are NDJSON) */
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed as T, text });
          });
          res.on('error', reject);
        },
      );
      req.on('error', (e) => reject(connectionError(this.base, e)));
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** Like request(), but a non-2xx answer throws the server's typed error. */
  async json<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const r = await this.request<T>(method, path, body, headers);
    if (r.status >= 200 && r.status < 300) return r.body;
    const e = r.body as { code?: string; message?: string; hint?: string; details?: unknown };
    throw new CeError(e?.code ?? 'API_ERROR', e?.message ?? `HTTP ${r.status}`, { status: r.status, hint: e?.hint, details: e?.details });
  }

  /**
   * Follow a server-sent event stream. `onEvent` returning true stops it. Resolves with every
   * event seen when the stream ends (the server closes it when the job ends) or is stopped.
   */
  events<T = any>(path: string, onEvent: (e: SseEvent<T>) => boolean | void, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<SseEvent<T>[]> {
    return new Promise((resolve, reject) => {
      const seen: SseEvent<T>[] = [];
      let settled = false;
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        req.destroy();
        if (err) reject(err);
        else resolve(seen);
      };
      const req = httpsRequest(new URL(path, this.base), { cert: this.identity.cert, key: this.identity.key, ca: this.identity.ca, agent: false, signal: opts.signal }, (res) => {
        if ((res.statusCode ?? 0) >= 300) {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => {
            const e = safeJson(text) as { code?: string; message?: string } | undefined;
            finish(new CeError(e?.code ?? 'API_ERROR', e?.message ?? `HTTP ${res.statusCode}`, { status: res.statusCode }));
          });
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          buf += c;
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (!event || data === undefined) continue; // comments (keep-alive)
            const e = { event, data: safeJson(data) as T };
            seen.push(e);
            if (onEvent(e) === true) return finish();
          }
        });
        res.on('end', () => finish());
        res.on('error', (e) => finish(e));
      });
      const timer = opts.timeoutMs
        ? setTimeout(() => finish(new CeError('API_TIMEOUT', `No end of the event stream within ${opts.timeoutMs} ms.`)), opts.timeoutMs)
        : undefined;
      req.on('error', (e) => (settled ? undefined : (e as NodeJS.ErrnoException).name === 'AbortError' ? finish() : finish(connectionError(this.base, e))));
      req.end();
    });
  }
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

function connectionError(base: string, e: Error): CeError {
  const code = (e as NodeJS.ErrnoException).code;
  const tls = /certificate|alert|handshake|SSL|ECONNRESET/i.test(`${e.message} ${code}`);
  return new CeError(tls ? 'API_TLS_FAILED' : 'API_UNREACHABLE', `Cannot talk to the CE at ${base}: ${e.message}`, {
    hint: tls
      ? 'Check --cert/--key (a client certificate issued by the CE\'s client CA) and --ca (the CA of the server certificate).'
      : 'Check that `ce serve` runs and the URL (--url or CE_URL).',
    cause: e,
  });
}
