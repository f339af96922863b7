/**
 * Where SMB credentials come from: the user (and domain) in the URL, the password from
 * CE_SMB_PASSWORD or a mount.cifs-style credentials file (`username=`, `password=`, `domain=`),
 * which must not be readable by group or others (mode 0600). Never from the command line.
 */
import { readFile, stat } from 'node:fs/promises';
import { CeError } from '../../core/errors.js';
import type { Credential } from './handshake.js';
import type { SmbUrl } from './url.js';

export const PASSWORD_ENV = 'CE_SMB_PASSWORD';

export interface CredentialSources {
  credentialsFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Allow a guest/anonymous session when there is no user. */
  allowGuest?: boolean;
}

export async function readCredentialsFile(path: string): Promise<{ user?: string; password?: string; domain?: string }> {
  const st = await stat(path).catch(() => {
    throw new CeError('SMB_CREDENTIALS_FILE', `The credentials file ${path} does not exist.`, { hint: 'Check the path given to --credentials-file.', status: 400 });
  });
  if (!st.isFile()) throw new CeError('SMB_CREDENTIALS_FILE', `The credentials file ${path} is not a regular file.`, { status: 400 });
  if ((st.mode & 0o077) !== 0) {
    throw new CeError('SMB_CREDENTIALS_FILE_MODE', `The credentials file ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}).`, {
      hint: `Restrict it: chmod 600 ${path}`,
      status: 400,
    });
  }
  const out: { user?: string; password?: string; domain?: string } = {};
  for (const raw of (await readFile(path, 'utf8')).split(/\r?\n/)) {
    const line = raw.replace(/^\s+/, '');
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim().toLowerCase();
    const value = line.slice(eq + 1); // passwords may contain spaces and '='
    if (key === 'username' || key === 'user') out.user = value.trim();
    else if (key === 'password' || key === 'pass') out.password = value;
    else if (key === 'domain' || key === 'workgroup' || key === 'dom') out.domain = value.trim();
  }
  // mount.cifs also accepts username=DOMAIN\user and user@domain
  if (out.user && !out.domain) {
    const bs = out.user.indexOf('\\');
    if (bs > 0) {
      out.domain = out.user.slice(0, bs);
      out.user = out.user.slice(bs + 1);
    }
  }
  return out;
}

export async function resolveCredential(url: SmbUrl, src: CredentialSources = {}): Promise<Credential> {
  const env = src.env ?? process.env;
  const file = src.credentialsFile ? await readCredentialsFile(src.credentialsFile) : {};
  const user = url.user ?? file.user;
  const domain = url.domain ?? file.domain ?? '';
  const password = file.password ?? env[PASSWORD_ENV];
  if (!user) {
    if (src.allowGuest) return { user: '', password: '', domain: '' };
    throw new CeError('SMB_NO_USER', `No user name for ${url.display}.`, {
      hint: 'Put it in the URL (smb://[domain;]user@server/share/...) or in the credentials file (username=...).',
      status: 400,
    });
  }
  if (password === undefined) {
    throw new CeError('SMB_NO_PASSWORD', `No password for ${user}@${url.host}.`, {
      hint: `Set ${PASSWORD_ENV} or pass --credentials-file with password=... (mode 0600).`,
      status: 400,
    });
  }
  return { user, password, domain };
}
