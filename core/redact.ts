/**
 * Secrets never reach logs, the job store or API responses. Anything under a key that looks
 * like a secret is replaced, at any depth. pino's own `redact` covers log lines (see logger.ts);
 * this covers objects we persist or return.
 */
const SECRET_KEY = /^(password|passwd|pass|secret|token|apikey|api_key|privatekey|private_key|key_pem|keypem|authorization|clientsecret|client_secret|sas|sastoken|ntlmhash)$/i;

export const REDACTED = '[redacted]';

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key.replace(/[-\s]/g, ''));
}

export function redactSecrets<T>(value: T): T {
  return walk(value, new WeakSet()) as T;
}

function walk(v: unknown, seen: WeakSet<object>): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Buffer.isBuffer(v) || ArrayBuffer.isView(v)) return v;
  if (seen.has(v)) return '[circular]';
  seen.add(v);
  if (Array.isArray(v)) return v.map((x) => walk(x, seen));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (isSecretKey(k)) out[k] = x === undefined || x === null || x === '' ? x : REDACTED;
    else out[k] = walk(x, seen);
  }
  return out;
}
