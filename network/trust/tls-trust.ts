/**
 * How the CE trusts a hypervisor or cloud endpoint's TLS certificate, as the service documents it:
 * a CA certificate; a SHA-1 or SHA-256 fingerprint pin of the endpoint's certificate; or a CA with
 * no host-name check. Each is an explicit mode. There is deliberately no "accept any certificate".
 */
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket, type PeerCertificate } from 'node:tls';
import { Agent, type AgentOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import { CeError } from '../../core/errors.js';

export type TlsTrust =
  /** Public CAs of the system store, host name checked (the default). */
  | { mode: 'system' }
  /** The endpoint's chain must lead to this CA (PEM, one or more); host name checked. */
  | { mode: 'ca'; caCertificate: string }
  /** The endpoint's chain must lead to this CA; the host name is not checked (IP-addressed vCenters, self-issued names). */
  | { mode: 'ca-no-hostname'; caCertificate: string }
  /** The endpoint's leaf certificate must have this fingerprint (hex, colons optional); chain and name are not checked: the pin is stronger. */
  | { mode: 'fingerprint'; sha256?: string; sha1?: string };

/** JSON schema for the `tlsTrust` option of jobs that reach hypervisors. */
export const tlsTrustSchema = {
  oneOf: [
    { type: 'object', required: ['mode'], additionalProperties: false, properties: { mode: { const: 'system' } } },
    {
      type: 'object',
      required: ['mode', 'caCertificate'],
      additionalProperties: false,
      properties: { mode: { enum: ['ca', 'ca-no-hostname'] }, caCertificate: { type: 'string', minLength: 64 } },
    },
    {
      type: 'object',
      required: ['mode'],
      additionalProperties: false,
      anyOf: [{ required: ['sha256'] }, { required: ['sha1'] }],
      properties: {
        mode: { const: 'fingerprint' },
        sha256: { type: 'string', pattern: '^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$' },
        sha1: { type: 'string', pattern: '^([0-9A-Fa-f]{2}:?){19}[0-9A-Fa-f]{2}$' },
      },
    },
  ],
} as const;

const norm = (fp: string) => fp.replace(/:/g, '').toUpperCase();

/** The tls.connect options for a trust mode (before the pin check, which runs after the handshake). */
export function tlsOptionsFor(trust: TlsTrust): ConnectionOptions {
  switch (trust.mode) {
    case 'system':
      return { rejectUnauthorized: true };
    case 'ca':
      return { rejectUnauthorized: true, ca: trust.caCertificate };
    case 'ca-no-hostname':
      // The chain is verified by OpenSSL; only the name check is skipped.
      return { rejectUnauthorized: true, ca: trust.caCertificate, checkServerIdentity: () => undefined };
    case 'fingerprint':
      if (!trust.sha256 && !trust.sha1) throw badTrust('a fingerprint mode needs sha256 or sha1');
      // The chain is not verified by OpenSSL here; verifyPinned() below refuses any other certificate.
      return { rejectUnauthorized: false };
    default:
      throw badTrust(`unknown mode ${(trust as { mode: string }).mode}`);
  }
}

function badTrust(why: string): CeError {
  return new CeError('TLS_TRUST_INVALID', `Invalid TLS trust option: ${why}.`, {
    hint: 'Use mode ca (with caCertificate), ca-no-hostname (with caCertificate), fingerprint (with sha256 or sha1) or system.',
    status: 400,
  });
}

/** After the handshake: enforce the pin. Returns a CeError to destroy the socket with, or undefined. */
export function verifyPinned(trust: TlsTrust, cert: PeerCertificate): CeError | undefined {
  if (trust.mode !== 'fingerprint') return undefined;
  const want256 = trust.sha256 ? norm(trust.sha256) : undefined;
  const want1 = trust.sha1 ? norm(trust.sha1) : undefined;
  const got256 = norm(cert.fingerprint256 ?? '');
  const got1 = norm(cert.fingerprint ?? '');
  if ((want256 && want256 === got256) || (!want256 && want1 && want1 === got1)) return undefined;
  return new CeError('TLS_FINGERPRINT_MISMATCH', `The endpoint's certificate does not match the pinned fingerprint (it has SHA-256 ${cert.fingerprint256}).`, {
    hint: 'Check that this is the right endpoint; if its certificate was renewed, pin the new fingerprint.',
    status: 502,
  });
}

/** Map Node's TLS failures to typed errors. */
export function tlsError(e: Error, host: string): CeError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (e instanceof CeError) return e;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new CeError('TLS_HOSTNAME_MISMATCH', `The certificate of ${host} is not issued for that name: ${e.message}`, {
      hint: 'Connect with a name in the certificate, or use trust mode ca-no-hostname deliberately.',
      status: 502,
      cause: e,
    });
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO|VERIFY/.test(code)) {
    return new CeError('TLS_UNTRUSTED', `The certificate of ${host} is not trusted (${code}).`, {
      hint: 'Give the CA certificate that issued it (mode ca), or pin its fingerprint (mode fingerprint).',
      status: 502,
      cause: e,
    });
  }
  return new CeError('TLS_CONNECT_FAILED', `TLS connection to ${host} failed: ${e.message}`, { status: 502, cause: e });
}

/** Open a TLS connection that honours the trust mode (pin checked before any byte is sent). */
export function connectTrusted(opts: { host: string; port: number; servername?: string }, trust: TlsTrust): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const sock = tlsConnect({ host: opts.host, port: opts.port, servername: opts.servername ?? opts.host, ...tlsOptionsFor(trust) });
    sock.once('secureConnect', () => {
      const err = verifyPinned(trust, sock.getPeerCertificate());
      if (err) {
        sock.destroy();
        reject(err);
      } else resolve(sock);
    });
    sock.once('error', (e) => reject(tlsError(e, opts.host)));
  });
}

/** An https.Agent for a trust mode, for REST clients of hypervisors (vCenter, Nutanix Prism, XenServer). */
export class TrustedAgent extends Agent {
  constructor(
    private readonly trust: TlsTrust,
    opts: AgentOptions = {},
  ) {
    super({ ...opts, ...tlsOptionsFor(trust) });
  }

  /**
   * The socket is handed to http only after the pin check (http's Agent waits for the callback
   * when createConnection returns nothing), so not even a request header reaches a wrong endpoint.
   */
  override createConnection(options: ConnectionOptions, cb?: (err: Error | null, s: Duplex) => void): Duplex | undefined {
    const sock = tlsConnect({ ...options, ...tlsOptionsFor(this.trust) });
    sock.once('secureConnect', () => {
      const err = verifyPinned(this.trust, sock.getPeerCertificate());
      if (err) {
        sock.destroy();
        cb?.(err, sock);
      } else cb?.(null, sock);
    });
    sock.once('error', (e) => cb?.(tlsError(e, String(options.host)), sock));
    return undefined;
  }
}

