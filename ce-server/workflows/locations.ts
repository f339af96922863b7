/**
 * Where a job reads or writes an image: a local file, a block device, or a file on an SMB share
 * with its credential. The credential arrives in the job, is held only in memory (the job store
 * keeps the redacted form) and is handed to the SMB client, never put in a URL or a log.
 */
import type { SmbConnectOptions } from '../../network/smb/api.js';

export interface SmbLocation {
  server: string;
  port?: number;
  share: string;
  /** Path inside the share, forward or back slashes. */
  path: string;
  credential: { domain?: string; username: string; password: string };
  /** Sign every message / encrypt every message even if the server does not require it. */
  sign?: boolean;
  encrypt?: boolean;
}

export type Location = { kind: 'file' | 'device'; path: string } | { kind: 'smb'; smb: SmbLocation };

export const smbLocationSchema = {
  type: 'object',
  required: ['server', 'share', 'path', 'credential'],
  additionalProperties: false,
  properties: {
    server: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^/\\\\@:\\s]+$' },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    share: { type: 'string', minLength: 1, maxLength: 80, pattern: '^[^/\\\\]+$' },
    path: { type: 'string', minLength: 1, maxLength: 1024 },
    credential: {
      type: 'object',
      required: ['username', 'password'],
      additionalProperties: false,
      properties: { domain: { type: 'string', maxLength: 255 }, username: { type: 'string', minLength: 1, maxLength: 256 }, password: { type: 'string', maxLength: 256 } },
    },
    sign: { type: 'boolean' },
    encrypt: { type: 'boolean' },
  },
} as const;

export { localSourceSchema as localLocationSchema } from '../../core/sources.js';

export const smbKindSchema = {
  type: 'object',
  required: ['kind', 'smb'],
  additionalProperties: false,
  properties: { kind: { const: 'smb' }, smb: smbLocationSchema },
} as const;

/** The smb:// URL (no credential in it) and the connection options carrying the credential. */
export function smbTarget(loc: SmbLocation): { url: string; smb: SmbConnectOptions } {
  const path = loc.path.replace(/\\/g, '/').replace(/^\/+/, '');
  const enc = (s: string) => s.split('/').map(encodeURIComponent).join('/');
  const url = `smb://${loc.server}${loc.port ? `:${loc.port}` : ''}/${encodeURIComponent(loc.share)}/${enc(path)}`;
  return {
    url,
    smb: {
      credential: { user: loc.credential.username, password: loc.credential.password, domain: loc.credential.domain },
      sign: loc.sign,
      encrypt: loc.encrypt,
    },
  };
}

/** A human/log form of a location: never the credential. */
export function describeLocation(loc: Location): string {
  return loc.kind === 'smb' ? smbTarget(loc.smb).url : loc.path;
}
