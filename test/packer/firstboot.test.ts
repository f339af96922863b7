/**
 * packer/files/ce-firstboot.sh in a throwaway root (CE_ROOT): connector CA from the
 * provisioning file or from a metadata service (a local HTTP server standing in for GCP's and
 * AWS's, which cannot be reached here), the openssl TLS identity, the fingerprint line on the
 * "serial console" (a file), and a real mutual-TLS handshake that pins that fingerprint.
 */
import t from 'tap';
import { execa } from 'execa';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as tlsConnect, createServer as tlsServer } from 'node:tls';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdir, readFile, stat, writeFile, copyFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { needs } from '../helpers/env.js';
import { makeCa, makeClient } from './pki.js';

const SCRIPT = join(ROOT, 'packer/files/ce-firstboot.sh');
const CE_UID = 4242;

async function makeRoot(dir: string): Promise<string> {
  const root = join(dir, 'root');
  await mkdir(join(root, 'etc/ce'), { recursive: true });
  await writeFile(join(root, 'etc/passwd'), `root:x:0:0:root:/root:/bin/bash\nce:x:${CE_UID}:${CE_UID}:Compositing Engine:/var/lib/ce:/usr/sbin/nologin\n`);
  return root;
}

async function firstboot(root: string, console: string, env: Record<string, string> = {}) {
  return execa('bash', [SCRIPT], { reject: false, env: { PATH: process.env.PATH ?? '', CE_ROOT: root, CE_CONSOLE: console, CE_PLATFORM: 'qemu', ...env } });
}

async function fingerprintLine(console: string): Promise<string | undefined> {
  return /^CE-TLS-FINGERPRINT sha256=([0-9A-F:]{95})$/m.exec(await readFile(console, 'utf8'))?.[1];
}

t.test('provisioning file: identity, env file, fingerprint, idempotent', { skip: needs({ root: true }) }, async (t) => {
  const dir = await tempDir(t);
  const root = await makeRoot(dir);
  const ca = await makeCa(dir, 'connector-ca');
  await copyFile(ca.cert, join(root, 'etc/ce/connector-ca.pem'));
  const consoleLog = join(dir, 'ttyS0.log');

  const r = await firstboot(root, consoleLog);
  t.equal(r.exitCode, 0, r.stderr);
  const tls = join(root, 'var/lib/ce/tls');
  const cert = new X509Certificate(await readFile(join(tls, 'server.crt')));
  const printed = await fingerprintLine(consoleLog);
  t.equal(printed, cert.fingerprint256, 'the console line carries the certificate SHA-256 fingerprint');
  t.match(r.stdout, /CE-TLS-FINGERPRINT sha256=/, 'and stdout (journal + console)');
  t.equal((await readFile(join(tls, 'server.sha256'), 'utf8')).trim(), cert.fingerprint256);

  const key = createPrivateKey(await readFile(join(tls, 'server.key')));
  t.equal(key.asymmetricKeyType, 'ec');
  t.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'ECDSA P-256');
  t.ok(cert.checkPrivateKey(key), 'certificate matches the key');
  t.equal(cert.ca, false);
  t.match(cert.subjectAltName ?? '', /DNS:localhost/);
  t.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  const st = await stat(join(tls, 'server.key'));
  t.equal(st.mode & 0o777, 0o600, 'key is 0600');
  t.equal(st.uid, CE_UID, 'owned by the service user of this root');
  t.equal((await stat(tls)).mode & 0o777, 0o700);

  const env = await readFile(join(root, 'etc/ce/connector.env'), 'utf8');
  t.match(env, /^CE_CLIENT_CA=\/etc\/ce\/connector-ca\.pem$/m, 'the connector CA replaces the local client CA');
  t.match(env, /^CE_SERVER_NAMES=.*localhost/m);
  t.ok((await stat(join(root, 'var/lib/ce/.firstboot-done'))).isFile(), 'done marker (unit condition)');

  const again = await firstboot(root, consoleLog);
  t.equal(again.exitCode, 0);
  const lines = (await readFile(consoleLog, 'utf8')).trim().split('\n');
  t.equal(lines.length, 2);
  t.equal(lines[0], lines[1], 'a second run keeps the identity (same fingerprint)');

  // The connector's view: mutual TLS with a client certificate from its CA, server pinned by the printed fingerprint.
  const client = await makeClient(dir, ca, 'connector');
  const other = await makeClient(dir, await makeCa(dir, 'other-ca'), 'intruder');
  const server = tlsServer({
    key: await readFile(join(tls, 'server.key')),
    cert: await readFile(join(tls, 'server.crt')),
    ca: await readFile(join(root, 'etc/ce/connector-ca.pem')),
    requestCert: true,
    rejectUnauthorized: true,
  }, (s) => s.end('ok'));
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const handshake = async (c: { cert: string; key: string }) =>
    new Promise<string>((resolve) => {
      const s = tlsConnect({
        host: '127.0.0.1', port, cert: readFileSync(c.cert, 'utf8'), key: readFileSync(c.key, 'utf8'), rejectUnauthorized: false,
      });
      s.once('secureConnect', () => {
        const fp = s.getPeerCertificate().fingerprint256;
        s.once('data', () => { resolve(fp === printed ? 'pinned-ok' : 'pin-mismatch'); s.destroy(); });
      });
      s.once('error', () => resolve('rejected'));
      s.once('close', () => resolve('rejected'));
    });
  t.equal(await handshake(client), 'pinned-ok', 'connector client cert accepted, server fingerprint matches the pin');
  t.equal(await handshake(other), 'rejected', 'a client cert from another CA is refused');
});

t.test('no connector CA: fail closed, no key generated', { skip: needs({ root: true }) }, async (t) => {
  const dir = await tempDir(t);
  const root = await makeRoot(dir);
  await writeFile(join(root, 'etc/ce/connector-ca.pem'), 'not a certificate\n');
  const consoleLog = join(dir, 'ttyS0.log');
  const r = await firstboot(root, consoleLog, { CE_METADATA_URL: 'http://127.0.0.1:9' });
  t.equal(r.exitCode, 1);
  t.match(await readFile(consoleLog, 'utf8'), /^CE-FIRSTBOOT-ERROR no connector CA/m);
  await t.rejects(stat(join(root, 'var/lib/ce/tls/server.key')), 'no identity without a CA');
  await t.rejects(stat(join(root, 'etc/ce/connector.env')), 'no env file: ce.service does not start');
});

/** A stand-in metadata service on loopback, checking the headers the real ones require. */
async function metadataServer(t: { teardown(fn: () => unknown): void }, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const srv = createServer(handler);
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  t.teardown(() => srv.close());
  return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
}

t.test('GCP metadata reader', { skip: needs({ root: true }) }, async (t) => {
  const dir = await tempDir(t);
  const root = await makeRoot(dir);
  const ca = await makeCa(dir, 'gcp-connector-ca');
  const pem = await readFile(ca.cert, 'utf8');
  const seen: string[] = [];
  const url = await metadataServer(t, (req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.headers['metadata-flavor'] !== 'Google') return void res.writeHead(403).end();
    if (req.url === '/computeMetadata/v1/instance/attributes/ce-connector-ca') return void res.end(`some text around it\n${pem}`);
    res.writeHead(404).end();
  });
  const r = await firstboot(root, join(dir, 'console.log'), { CE_PLATFORM: 'googlecompute', CE_METADATA_URL: url });
  t.equal(r.exitCode, 0, r.stderr);
  t.same(seen, ['GET /computeMetadata/v1/instance/attributes/ce-connector-ca']);
  t.equal((await readFile(join(root, 'etc/ce/connector-ca.pem'), 'utf8')).trim(), pem.trim(), 'only the certificate block is kept');
  t.match(r.stderr, /connector CA from googlecompute/);
});

t.test('AWS IMDSv2 user-data reader', { skip: needs({ root: true }) }, async (t) => {
  const dir = await tempDir(t);
  const root = await makeRoot(dir);
  const ca = await makeCa(dir, 'aws-connector-ca');
  const pem = await readFile(ca.cert, 'utf8');
  const url = await metadataServer(t, (req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token' && req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return void res.end('tok123');
    if (req.method === 'GET' && req.url === '/latest/user-data' && req.headers['x-aws-ec2-metadata-token'] === 'tok123') return void res.end(pem);
    res.writeHead(401).end();
  });
  const r = await firstboot(root, join(dir, 'console.log'), { CE_PLATFORM: 'amazon-ebs', CE_METADATA_URL: url });
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stderr, /connector CA from amazon_ebs/);
  t.ok(await fingerprintLine(join(dir, 'console.log')));
});

t.test('Azure readers: IMDS user data (base64), then custom data on disk wins', { skip: needs({ root: true }) }, async (t) => {
  const dir = await tempDir(t);
  const root = await makeRoot(dir);
  const ca = await makeCa(dir, 'azure-connector-ca');
  const pem = await readFile(ca.cert, 'utf8');
  const url = await metadataServer(t, (req, res) => {
    if (req.headers.metadata !== 'true') return void res.writeHead(400).end();
    if (req.url === '/metadata/instance/compute/userData?api-version=2021-01-01&format=text') return void res.end(Buffer.from(pem).toString('base64'));
    res.writeHead(404).end();
  });
  const r = await firstboot(root, join(dir, 'console.log'), { CE_PLATFORM: 'azure-arm', CE_METADATA_URL: url });
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stderr, /connector CA from azure_arm/);
  t.equal((await readFile(join(root, 'etc/ce/connector-ca.pem'), 'utf8')).trim(), pem.trim());

  // Custom data provisioned by the Azure agent: base64 in /var/lib/waagent/CustomData.
  const root2 = await makeRoot(join(dir, 'second'));
  const ca2 = await makeCa(dir, 'azure-custom-ca');
  await mkdir(join(root2, 'var/lib/waagent'), { recursive: true });
  await writeFile(join(root2, 'var/lib/waagent/CustomData'), Buffer.from(await readFile(ca2.cert)).toString('base64'));
  const r2 = await firstboot(root2, join(dir, 'console2.log'), { CE_PLATFORM: 'azure-arm', CE_METADATA_URL: 'http://127.0.0.1:9' });
  t.equal(r2.exitCode, 0, r2.stderr);
  t.equal((await readFile(join(root2, 'etc/ce/connector-ca.pem'), 'utf8')).trim(), (await readFile(ca2.cert, 'utf8')).trim());
});

t.test('cloud-init raw user data is read; a cloud-config is not', { skip: needs({ root: true }) }, async (t) => {
  const dir = await tempDir(t);
  const root = await makeRoot(dir);
  const ca = await makeCa(dir, 'ci-connector-ca');
  await mkdir(join(root, 'var/lib/cloud/instance'), { recursive: true });
  await writeFile(join(root, 'var/lib/cloud/instance/user-data.txt'), `#cloud-config\nca_certs:\n  trusted: |\n${(await readFile(ca.cert, 'utf8')).replace(/^/gm, '    ')}`);
  const r = await firstboot(root, join(dir, 'console.log'));
  t.equal(r.exitCode, 1, 'a CA inside a cloud-config is not taken (it is not meant for the connector)');
  await copyFile(ca.cert, join(root, 'var/lib/cloud/instance/user-data.txt'));
  const r2 = await firstboot(root, join(dir, 'console.log'));
  t.equal(r2.exitCode, 0, r2.stderr);
  t.match(r2.stderr, /connector CA from cloudinit/);
});
