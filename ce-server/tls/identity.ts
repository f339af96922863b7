/**
 * The CE's TLS identity for local mode: a local CA, a server certificate and one client
 * certificate, created on first run under <tls-dir>. Keys come from Node's crypto (fast, native);
 * node-forge only builds and signs the X.509 certificates (its own key generation is far too slow).
 * Files: ca.crt ca.key server.crt server.key client.crt client.key (keys mode 0600).
 */
import { generateKeyPairSync, X509Certificate, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile, stat, rename } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import { isIP } from 'node:net';
import { CeError } from '../../core/errors.js';

export interface TlsIdentity {
  dir: string;
  /** The local CA (absent on a CE VM whose first boot made a server certificate and trusts the connector CA). */
  caCert?: string;
  serverCert: string;
  serverKey: string;
  clientCert?: string;
  clientKey?: string;
  /** SHA-256 fingerprint of the server certificate, colon-separated hex (what curl/browsers show). */
  serverFingerprint: string;
  /** Whether the identity was created just now. */
  created: boolean;
  paths: Record<'caCert' | 'caKey' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string>;
}

const DAY = 24 * 3600 * 1000;

export function tlsPaths(dir: string): TlsIdentity['paths'] {
  return {
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
  };
}

/** Load the identity in `dir`, creating it first if there is none. */
export async function ensureTlsIdentity(dir: string, serverNames: string[] = []): Promise<TlsIdentity> {
  const paths = tlsPaths(dir);
  let created = false;
  if (!(await fileExists(paths.serverCert)) || !(await fileExists(paths.serverKey))) {
    await createLocalIdentity(dir, serverNames);
    created = true;
  }
  // A CE VM's first boot (packer/files/ce-firstboot.sh) writes only server.key/server.crt and
  // points CE_CLIENT_CA at the connector's CA: then there is no local CA, and none is needed.
  const [caCert, serverCert, serverKey] = await Promise.all([
    readFile(paths.caCert, 'utf8').catch(() => undefined),
    readFile(paths.serverCert, 'utf8'),
    readFile(paths.serverKey, 'utf8'),
  ]);
  const [clientCert, clientKey] = await Promise.all([
    readFile(paths.clientCert, 'utf8').catch(() => undefined),
    readFile(paths.clientKey, 'utf8').catch(() => undefined),
  ]);
  return { dir, caCert, serverCert, serverKey, clientCert, clientKey, serverFingerprint: fingerprint256(serverCert), created, paths };
}

export function fingerprint256(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

async function fileExists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

function rsaKeyPair(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  const publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  return { privateKey: forgeKey, publicKey, pem };
}

function newCert(publicKey: forge.pki.PublicKey, subjectCN: string, days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive serial: leading byte below 0x80.
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - DAY);
  cert.validity.notAfter = new Date(Date.now() + days * DAY);
  cert.setSubject([
    { name: 'commonName', value: subjectCN },
    { name: 'organizationName', value: 'Compositing Engine (local)' },
  ]);
  return cert;
}

async function createLocalIdentity(dir: string, serverNames: string[]): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = rsaKeyPair();
  const caCert = newCert(ca.publicKey, 'CE local CA', 3650);
  caCert.setIssuer(caCert.subject.attributes);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(ca.privateKey, forge.md.sha256.create());

  const names = Array.from(new Set(['localhost', '127.0.0.1', '::1', ...serverNames]));
  const server = rsaKeyPair();
  const serverCert = newCert(server.publicKey, 'ce-server', 825);
  serverCert.setIssuer(caCert.subject.attributes);
  serverCert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })) },
  ]);
  serverCert.sign(ca.privateKey, forge.md.sha256.create());

  const client = rsaKeyPair();
  const clientCert = newCert(client.publicKey, 'ce-client', 825);
  clientCert.setIssuer(caCert.subject.attributes);
  clientCert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
  ]);
  clientCert.sign(ca.privateKey, forge.md.sha256.create());

  const p = tlsPaths(dir);
  const pem = (c: forge.pki.Certificate) => forge.pki.certificateToPem(c);
  // Keys first, the server certificate last: its presence marks a complete identity.
  await writeSecret(p.caKey, ca.pem);
  await writeSecret(p.serverKey, server.pem);
  await writeSecret(p.clientKey, client.pem);
  await writeFile(p.caCert, pem(caCert), { mode: 0o644 });
  await writeFile(p.clientCert, pem(clientCert), { mode: 0o644 });
  await writeFile(`${p.serverCert}.tmp`, pem(serverCert), { mode: 0o644 });
  await rename(`${p.serverCert}.tmp`, p.serverCert);
}

async function writeSecret(path: string, data: string): Promise<void> {
  await writeFile(path, data, { mode: 0o600 });
}

/** Issue an extra client certificate from the local CA (for `ce cert client` and tests). */
export async function issueClientCert(dir: string, cn: string, days = 825): Promise<{ cert: string; key: string }> {
  const p = tlsPaths(dir);
  const caKey = forge.pki.privateKeyFromPem(await readFile(p.caKey, 'utf8'));
  const caCert = forge.pki.certificateFromPem(await readFile(p.caCert, 'utf8'));
  const kp = rsaKeyPair();
  const cert = newCert(kp.publicKey, cn, days);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'extKeyUsage', clientAuth: true },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: kp.pem };
}
