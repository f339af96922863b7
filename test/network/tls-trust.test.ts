/** The TLS trust modes for hypervisor endpoints against a real local HTTPS server. */
import t from 'tap';
import { createServer } from 'node:https';
import { request } from 'node:https';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { ensureTlsIdentity } from '../../ce-server/tls/identity.js';
import { connectTrusted, TrustedAgent, tlsOptionsFor, type TlsTrust } from '../../network/trust/tls-trust.js';
import { tempDir } from '../helpers/tmp.js';

t.test('trust modes', async (t) => {
  const ours = await ensureTlsIdentity(await tempDir(t));
  const foreign = await ensureTlsIdentity(await tempDir(t));
  let requests = 0;
  const server = createServer({ key: ours.serverKey, cert: ours.serverCert }, (_req, res) => (requests++, res.end('hello')));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const x = new X509Certificate(ours.serverCert);
  const at = (trust: TlsTrust, servername = 'localhost') => connectTrusted({ host: '127.0.0.1', port, servername }, trust).then((s) => (s.destroy(), 'ok'));
  const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code: string }) => e.code);

  t.equal(await code(at({ mode: 'ca', caCertificate: ours.caCert! })), 'ok', 'CA: accepted');
  t.equal(await code(at({ mode: 'ca', caCertificate: foreign.caCert! })), 'TLS_UNTRUSTED', 'CA: another CA refused');
  t.equal(await code(at({ mode: 'ca', caCertificate: ours.caCert! }, 'vcenter.corp.example')), 'TLS_HOSTNAME_MISMATCH', 'CA: wrong name refused');
  t.equal(await code(at({ mode: 'ca-no-hostname', caCertificate: ours.caCert! }, 'vcenter.corp.example')), 'ok', 'no-hostname: wrong name accepted');
  t.equal(await code(at({ mode: 'ca-no-hostname', caCertificate: foreign.caCert! })), 'TLS_UNTRUSTED', 'no-hostname still checks the chain');
  t.equal(await code(at({ mode: 'fingerprint', sha256: x.fingerprint256 })), 'ok', 'SHA-256 pin accepted');
  t.equal(await code(at({ mode: 'fingerprint', sha1: x.fingerprint.replace(/:/g, '').toLowerCase() })), 'ok', 'SHA-1 pin accepted');
  t.equal(await code(at({ mode: 'fingerprint', sha256: new X509Certificate(foreign.serverCert).fingerprint256 })), 'TLS_FINGERPRINT_MISMATCH', 'wrong pin refused');
  t.equal(await code(at({ mode: 'system' })), 'TLS_UNTRUSTED', 'system store does not know our CA');
  t.throws(() => tlsOptionsFor({ mode: 'insecure' } as unknown as TlsTrust), { code: 'TLS_TRUST_INVALID' }, 'no accept-any mode');

  const get = (trust: TlsTrust) =>
    new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, servername: 'localhost', path: '/', agent: new TrustedAgent(trust) }, (res) => {
        let b = '';
        res.on('data', (c: Buffer) => (b += c.toString()));
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
      req.end();
    });
  t.equal(await get({ mode: 'fingerprint', sha256: x.fingerprint256 }), 'hello', 'agent with a pin');
  const before = requests;
  await t.rejects(get({ mode: 'fingerprint', sha256: new X509Certificate(foreign.serverCert).fingerprint256 }), { code: 'TLS_FINGERPRINT_MISMATCH' }, 'agent refuses a wrong pin');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(requests, before, 'not even the request line reached the wrongly pinned endpoint');
});
