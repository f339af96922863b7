/**
 * `smb://[domain;]user@server[:port]/share/path/file` URLs. A password in the URL is refused:
 * passwords come from CE_SMB_PASSWORD or a credentials file, never from the command line.
 */
import { CeError } from '../../core/errors.js';

export interface SmbUrl {
  host: string;
  port: number;
  share: string;
  /** Path inside the share in SMB form (backslashes, no leading separator); '' is the share root. */
  path: string;
  user?: string;
  domain?: string;
  /** The URL without credentials, for messages and logs. */
  display: string;
}

function badUrl(url: string, why: string): CeError {
  return new CeError('SMB_BAD_URL', `Bad SMB URL ${redactUrl(url)}: ${why}.`, {
    hint: 'Use smb://[domain;]user@server[:port]/share/path/file',
    status: 400,
  });
}

/** Remove anything that could be a password from a URL before showing it. */
export function redactUrl(url: string): string {
  return url.replace(/^(smb:\/\/[^/@:]*):[^@/]*@/i, '$1:[redacted]@');
}

export function isSmbUrl(s: string): boolean {
  return /^smb:\/\//i.test(s);
}

export function parseSmbUrl(url: string): SmbUrl {
  const m = /^smb:\/\/(?:([^@/]*)@)?(\[[^\]]+\]|[^/:@]+)(?::(\d+))?(\/.*)?$/i.exec(url);
  if (!m) throw badUrl(url, 'not of the form smb://[domain;]user@server[:port]/share/path');
  const [, userinfo, hostRaw, portRaw, pathRaw] = m;
  let user: string | undefined;
  let domain: string | undefined;
  if (userinfo !== undefined) {
    if (userinfo.includes(':')) {
      throw new CeError('SMB_PASSWORD_IN_URL', 'The SMB URL contains a password.', {
        hint: 'Never put the password in the URL: set CE_SMB_PASSWORD or use --credentials-file (mode 0600).',
        status: 400,
      });
    }
    const ui = decode(url, userinfo);
    const semi = ui.indexOf(';');
    if (semi >= 0) {
      domain = ui.slice(0, semi) || undefined;
      user = ui.slice(semi + 1);
    } else user = ui;
    if (user === '') user = undefined;
  }
  const port = portRaw ? Number(portRaw) : 445;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw badUrl(url, 'bad port');
  const host = hostRaw!.replace(/^\[|\]$/g, '');
  const segments = (pathRaw ?? '/')
    .split('/')
    .filter((s) => s !== '')
    .map((s) => decode(url, s));
  if (segments.length === 0) throw badUrl(url, 'no share name');
  for (const s of segments) {
    if (s === '.' || s === '..') throw badUrl(url, '"." and ".." are not allowed in the path');
    if (/[\\\0]/.test(s)) throw badUrl(url, 'backslashes and NUL are not allowed in path components');
  }
  const [share, ...rest] = segments;
  const userPart = user ? `${domain ? `${domain};` : ''}${user}@` : '';
  return {
    host,
    port,
    share: share!,
    path: rest.join('\\'),
    user,
    domain,
    display: `smb://${userPart}${hostRaw}${portRaw ? `:${port}` : ''}/${segments.join('/')}`,
  };
}

function decode(url: string, s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw badUrl(url, 'bad percent-encoding');
  }
}

/** Parent directory and base name of an SMB path. */
export function splitSmbPath(path: string): { dir: string; base: string } {
  const i = path.lastIndexOf('\\');
  return i < 0 ? { dir: '', base: path } : { dir: path.slice(0, i), base: path.slice(i + 1) };
}
