/**
 * The entry points the rest of the CE uses:
 * - `openWrite(url, opts)` / `openSmbSink`: a seekable Sink on `<file>.partial` with the free-space
 *   check (the share must have ≥ 2× the image size free), refusal to overwrite, write-behind, and
 *   commit() = flush + optional verify + rename. close() without commit() deletes the partial.
 * - `openRead(url, opts)` / `openSmbSource`: a ByteSource.
 * - `connectSmb(url, opts)`: a client on the URL's share (ls, df, rm).
 */
import { CeError } from '../../core/errors.js';
import { formatBytes } from '../../core/cli-kit.js';
import { SmbClient, type ClientOptions } from './client.js';
import { resolveCredential, type CredentialSources } from './credentials.js';
import type { Credential, SecurityOptions } from './handshake.js';
import { Access, CreateOptions, Disposition, ShareAccess } from './packets/constants.js';
import { parseSmbUrl, type SmbUrl } from './url.js';
import { SmbSink } from './sink.js';
import { SmbSource } from './source.js';

export interface SmbConnectOptions extends CredentialSources, SecurityOptions {
  /** Explicit credential (else: URL user + CE_SMB_PASSWORD / credentials file). */
  credential?: Credential;
  /** I/O size per request (default 8 MiB, 4 MiB on encrypted sessions; at most the negotiated max). */
  ioSize?: number;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  reconnectAttempts?: number;
  onReconnect?: ClientOptions['onReconnect'];
}

export interface OpenWriteOptions extends SmbConnectOptions {
  /**
   * Size of the image to be written (bytes). When given, the share must have at least twice this
   * free (the service's rule), else SMB_NO_SPACE before anything is written.
   */
  size?: number;
  /** Replace an existing final file (default: SMB_OUTPUT_EXISTS). */
  overwrite?: boolean;
  /** Read the file back before the rename and compare with what was sent. */
  verify?: boolean;
  /** Write-behind budget (default 32 MiB). */
  inFlightBytes?: number;
  signal?: AbortSignal;
  onProgress?(bytesAcknowledged: number): void;
}

export async function connectSmb(url: SmbUrl | string, opts: SmbConnectOptions = {}): Promise<{ client: SmbClient; url: SmbUrl }> {
  const u = typeof url === 'string' ? parseSmbUrl(url) : url;
  const cred = opts.credential ?? (await resolveCredential(u, opts));
  const client = await SmbClient.connect(
    {
      host: u.host,
      port: u.port,
      share: u.share,
      dialects: opts.dialects,
      sign: opts.sign,
      encrypt: opts.encrypt,
      allowGuest: opts.allowGuest,
      ciphers: opts.ciphers,
      ioSize: opts.ioSize,
      connectTimeoutMs: opts.connectTimeoutMs,
      requestTimeoutMs: opts.requestTimeoutMs,
      reconnectAttempts: opts.reconnectAttempts,
      onReconnect: opts.onReconnect,
    },
    cred,
  );
  return { client, url: u };
}

/** The free-space rule: at least 2× the image size must be free on the share. */
export async function checkFreeSpace(client: SmbClient, url: SmbUrl, size: number): Promise<{ free: number; needed: number }> {
  const fs = await client.fsSize();
  const needed = 2 * size;
  const free = fs.callerAvailableBytes;
  if (free < needed) {
    throw new CeError(
      'SMB_NO_SPACE',
      `The share //${url.host}/${url.share} has ${formatBytes(free)} (${free} bytes) free; an image of ${formatBytes(size)} (${size} bytes) needs at least 2× = ${formatBytes(needed)} (${needed} bytes).`,
      { hint: 'Free space on the share or choose another share.', status: 507, details: { freeBytes: free, imageBytes: size, neededBytes: needed } },
    );
  }
  return { free, needed };
}

export async function openWrite(url: string | SmbUrl, opts: OpenWriteOptions = {}): Promise<SmbSink> {
  const { client, url: u } = await connectSmb(url, opts);
  try {
    if (!u.path) throw new CeError('SMB_BAD_URL', `The URL ${u.display} names a share, not a file.`, { hint: 'Add the file path: smb://server/share/dir/file.vhdx', status: 400 });
    if (opts.size !== undefined) await checkFreeSpace(client, u, opts.size);
    const existing = await client.stat(u.path);
    if (existing?.isDirectory) throw new CeError('SMB_IS_A_DIRECTORY', `${u.display} is a directory.`, { hint: 'Give a file path.', status: 422 });
    if (existing && !opts.overwrite) {
      throw new CeError('SMB_OUTPUT_EXISTS', `The output ${u.display} exists already.`, { hint: 'Choose another name or pass --overwrite.', status: 409 });
    }
    const partial = `${u.path}.partial`;
    const handle = await client.open(partial, {
      access:
        Access.FILE_READ_DATA | Access.FILE_WRITE_DATA | Access.FILE_APPEND_DATA | Access.FILE_READ_ATTRIBUTES | Access.FILE_WRITE_ATTRIBUTES | Access.DELETE | Access.SYNCHRONIZE,
      disposition: Disposition.OVERWRITE_IF,
      options: CreateOptions.NON_DIRECTORY_FILE,
      share: ShareAccess.READ,
    });
    return new SmbSink(`${u.display}.partial`, client, handle, {
      finalPath: u.path,
      overwrite: !!opts.overwrite,
      verify: !!opts.verify,
      inFlightBytes: opts.inFlightBytes,
      signal: opts.signal,
      ownsClient: true,
      onProgress: opts.onProgress,
    });
  } catch (e) {
    await client.disconnect();
    throw e;
  }
}

export async function openRead(url: string | SmbUrl, opts: SmbConnectOptions = {}): Promise<SmbSource> {
  const { client, url: u } = await connectSmb(url, opts);
  try {
    if (!u.path) throw new CeError('SMB_BAD_URL', `The URL ${u.display} names a share, not a file.`, { hint: 'Add the file path.', status: 400 });
    const handle = await client.open(u.path, {
      access: Access.FILE_READ_DATA | Access.FILE_READ_ATTRIBUTES | Access.SYNCHRONIZE,
      disposition: Disposition.OPEN,
      options: CreateOptions.NON_DIRECTORY_FILE,
      share: ShareAccess.READ,
    });
    return new SmbSource(u.display, handle.info.endOfFile, client, handle, true);
  } catch (e) {
    await client.disconnect();
    throw e;
  }
}

/** For `ce convert … smb://…`: the Sink (call `commit()` on success; `close()` alone aborts). */
export const openSmbSink = openWrite;
/** For `ce convert smb://… …`: the ByteSource. */
export const openSmbSource = openRead;
