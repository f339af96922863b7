/** A small HTTPS client with client certificates, for API tests over real mutual TLS. */
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ClientIdentity {
  cert?: string;
  key?: string;
  ca: string;
}

export function identityFrom(tlsDir: string): ClientIdentity {
  return {
    cert: readFileSync(join(tlsDir, 'client.crt'), 'utf8'),
    key: readFileSync(join(tlsDir, 'client.key'), 'utf8'),
    ca: readFileSync(join(tlsDir, 'ca.crt'), 'utf8'),
  };
}

export interface HttpResult<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  text: string;
}

export function call<T = any>(
  base: string,
  id: ClientIdentity,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpResult<T>> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpsRequest(
      new URL(path, base),
      {
        method,
        cert: id.cert,
        key: id.key,
        ca: id.ca,
        agent: false,
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
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed as T, text });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** Read a server-sent event stream until it ends or `until` returns true. */
export function readEvents(
  base: string,
  id: ClientIdentity,
  path: string,
  until: (e: { event: string; data: any }) => boolean,
  timeoutMs = 20_000,
): Promise<Array<{ event: string; data: any }>> {
  return new Promise((resolve, reject) => {
    const events: Array<{ event: string; data: unknown }> = [];
    const req = httpsRequest(new URL(path, base), { cert: id.cert, key: id.key, ca: id.ca, agent: false }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!ev || data === undefined) continue;
          const e = { event: ev, data: JSON.parse(data) as unknown };
          events.push(e);
          if (until(e as { event: string; data: any })) {
            clearTimeout(timer);
            req.destroy();
            resolve(events as Array<{ event: string; data: any }>);
          }
        }
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve(events as Array<{ event: string; data: any }>);
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no end of stream within ${timeoutMs} ms; got ${JSON.stringify(events).slice(0, 500)}`));
    }, timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      if ((e as NodeJS.ErrnoException).code === 'ECONNRESET' && events.length) resolve(events as Array<{ event: string; data: any }>);
      else reject(e);
    });
    req.end();
  });
}
