/**
 * The SMB client the rest of the CE uses: one connection, session and tree for a share, file
 * operations (open/read/write/flush/close/rename/delete/list/free space), and transparent
 * reconnection with the same credentials when the connection drops (files are reopened by path
 * on the new connection and the failed request is sent again; writes are idempotent).
 */
import { Connection } from './connection.js';
import { negotiate, sessionSetup, type Credential, type SecurityOptions, type SessionInfo } from './handshake.js';
import { Access, Cmd, CreateOptions, Dialect, Disposition, FileAttr, FileInfo, FsInfo, InfoType, ShareAccess, ShareFlags, ShareType } from './packets/constants.js';
import { parseTreeConnectResponse, treeConnectRequest, treeDisconnectRequest, logoffRequest } from './packets/session.js';
import {
  closeRequest,
  createRequest,
  flushRequest,
  parseCreateResponse,
  readRequest,
  readResponseData,
  writeRequest,
  writeResponseCount,
  type CreateResponse,
} from './packets/file-ops.js';
import {
  dispositionInfo,
  endOfFileInfo,
  outputBuffer,
  parseFsFullSize,
  parseIdBothDirectory,
  parseStandardInfo,
  queryDirectoryRequest,
  queryInfoRequest,
  renameInfo,
  setInfoRequest,
  QueryDirFlags,
  type DirEntry,
  type FsFullSize,
} from './packets/info.js';
import { Status, isRetryable } from './status.js';
import { CeError } from '../../core/errors.js';
import { copyInto } from './io-buffer.js';

export interface ClientOptions extends SecurityOptions {
  host: string;
  port?: number;
  share: string;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Reconnect attempts after a dropped connection (default 8, backoff 0.25 s → 8 s). 0 disables. */
  reconnectAttempts?: number;
  /** Largest single READ/WRITE (default 8 MiB, 4 MiB when encrypting; cap: 8 MiB, at most the negotiated max). */
  ioSize?: number;
  /** Called when a reconnect starts / succeeds (for logs). */
  onReconnect?(event: { attempt: number; ok: boolean; error?: string }): void;
}

export interface OpenParams {
  access: number;
  disposition: number;
  options?: number;
  attributes?: number;
  share?: number;
}

/** An open file: reopened by path (with disposition OPEN) after a reconnect. */
export class SmbHandle {
  generation: number;
  closed = false;
  /** A reopen in progress after a reconnect (shared by all operations on this handle). */
  reopening?: Promise<void>;
  constructor(
    readonly path: string,
    readonly params: OpenParams,
    public fileId: Buffer,
    public info: CreateResponse,
    generation: number,
  ) {
    this.generation = generation;
  }
}

const MiB = 1024 * 1024;

export class SmbClient {
  private conn!: Connection;
  info!: SessionInfo;
  private treeId = 0;
  private treeEncrypt = false;
  private generation = 0;
  private reconnecting?: Promise<void>;
  /** Set when reconnecting gave up: later calls fail fast instead of waiting through the backoff again. */
  private broken?: unknown;
  private disposed = false;
  readonly port: number;

  private constructor(
    private readonly opts: ClientOptions,
    private readonly cred: Credential,
  ) {
    this.port = opts.port ?? 445;
  }

  static async connect(opts: ClientOptions, cred: Credential): Promise<SmbClient> {
    const c = new SmbClient(opts, cred);
    await c.establish();
    return c;
  }

  get dialect(): string {
    return this.info.dialect;
  }

  /**
   * The I/O size of one READ/WRITE request: 8 MiB by default, 4 MiB on encrypted sessions (the
   * server decrypts a message only once it has all of it: smaller messages overlap our
   * encryption, its decryption and its file write better, and keep less ciphertext around).
   */
  get ioSize(): number {
    const neg = Math.min(this.info.maxReadSize, this.info.maxWriteSize);
    const limit = this.info.dialect === '2.1' || neg < 64 * 1024 ? neg : Math.min(neg, 8 * MiB);
    return Math.max(4096, Math.min(this.opts.ioSize ?? (this.encrypted ? 4 * MiB : 8 * MiB), limit));
  }

  get encrypted(): boolean {
    return this.info.encryption !== null || this.treeEncrypt;
  }

  private async establish(): Promise<void> {
    const conn = await Connection.open({
      host: this.opts.host,
      port: this.port,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      requestTimeoutMs: this.opts.requestTimeoutMs,
    });
    try {
      const { neg, preauth } = await negotiate(conn, this.opts);
      this.info = await sessionSetup(conn, neg, preauth, this.cred, this.opts);
      const unc = `\\\\${this.opts.host}\\${this.opts.share}`;
      const r = await conn.request(Cmd.TREE_CONNECT, treeConnectRequest(unc), {
        what: `connect to share ${this.opts.share}`,
        forceSign: neg.dialect === Dialect.SMB3_1_1 && !this.info.guest,
      });
      const tree = parseTreeConnectResponse(r.msg);
      if (tree.shareType !== ShareType.DISK) {
        throw new CeError('SMB_NOT_A_DISK_SHARE', `The share ${this.opts.share} is not a disk share.`, { hint: 'Give a file share.', status: 422 });
      }
      this.treeId = r.header.treeId;
      this.treeEncrypt = (tree.shareFlags & ShareFlags.ENCRYPT_DATA) !== 0;
      if (this.treeEncrypt && !conn.session?.encryptor) {
        throw new CeError('SMB_ENCRYPTION_UNSUPPORTED', `The share ${this.opts.share} requires encryption, which SMB ${this.info.dialect} cannot do.`, {
          hint: 'Encryption needs SMB 3.0 or later; allow SMB3 on the server.',
          status: 502,
        });
      }
      if (this.treeEncrypt && !this.info.encryption) this.info.encryption = conn.session!.encryptor!.algorithm;
      this.conn = conn;
    } catch (e) {
      conn.close();
      throw e;
    }
  }

  /** Reconnect (once for all concurrent callers) with the same credentials. */
  private reconnect(failedGeneration: number): Promise<void> {
    if (this.generation !== failedGeneration) return Promise.resolve(); // someone already did it
    if (!this.reconnecting) {
      this.reconnecting = (async () => {
        const attempts = this.opts.reconnectAttempts ?? 8;
        let delay = 250;
        let lastErr: unknown;
        for (let i = 1; i <= attempts && !this.disposed; i++) {
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 8000);
          try {
            this.conn?.close();
            await this.establish();
            this.generation++;
            this.opts.onReconnect?.({ attempt: i, ok: true });
            return;
          } catch (e) {
            lastErr = e;
            this.opts.onReconnect?.({ attempt: i, ok: false, error: (e as Error).message });
            // Authentication and share errors will not heal by retrying.
            const code = (e as CeError).code;
            if (code && !['SMB_CONNECT_FAILED', 'SMB_CONNECT_TIMEOUT', 'SMB_CONNECTION_LOST', 'SMB_TIMEOUT'].includes(code)) throw e;
          }
        }
        throw new CeError('SMB_RECONNECT_FAILED', `The connection to ${this.opts.host} dropped and could not be re-established after ${attempts} attempts.`, {
          hint: 'Check the server and the network, then run the job again.',
          status: 503,
          cause: lastErr,
        });
      })()
        .catch((e) => {
          this.broken = e;
          throw e;
        })
        .finally(() => {
        this.reconnecting = undefined;
      });
    }
    return this.reconnecting;
  }

  /** Run `fn`, reconnecting and retrying when the connection drops. */
  async withRetry<T>(fn: () => Promise<T>): Promise<T> {
    const attempts = (this.opts.reconnectAttempts ?? 8) > 0 ? 4 : 1;
    for (let i = 0; ; i++) {
      const gen = this.generation;
      if (this.broken) throw this.broken;
      try {
        if (this.reconnecting) await this.reconnecting;
        return await fn();
      } catch (e) {
        if (!isRetryable(e) || i + 1 >= attempts || this.disposed) throw e;
        await this.reconnect(gen);
      }
    }
  }

  private req(command: number, body: Buffer, what: string, extra: { payload?: Buffer; chargeBytes?: number; okStatus?: number[]; readInto?: Buffer } = {}) {
    return this.conn.request(command, body, { what, treeId: this.treeId, encrypt: this.treeEncrypt, ...extra });
  }

  // ---- files -------------------------------------------------------------------------------

  private async create(path: string, p: OpenParams): Promise<CreateResponse> {
    const r = await this.req(
      Cmd.CREATE,
      createRequest({
        path,
        desiredAccess: p.access,
        fileAttributes: p.attributes ?? 0,
        shareAccess: p.share ?? ShareAccess.READ,
        disposition: p.disposition,
        options: p.options ?? CreateOptions.NON_DIRECTORY_FILE,
      }),
      `open ${path || '\\'}`,
    );
    return parseCreateResponse(r.msg);
  }

  async open(path: string, params: OpenParams): Promise<SmbHandle> {
    return this.withRetry(async () => {
      const info = await this.create(path, params);
      return new SmbHandle(path, params, info.fileId, info, this.generation);
    });
  }

  /** After a reconnect the old FileId is gone: reopen by path, never truncating or creating. */
  private async ensureOpen(h: SmbHandle): Promise<void> {
    if (h.closed) throw new CeError('SMB_FILE_CLOSED', `The file ${h.path} is closed.`, { status: 500 });
    if (h.generation === this.generation) return;
    h.reopening ??= (async () => {
      const gen = this.generation;
      for (let attempt = 0; ; attempt++) {
        try {
          const info = await this.create(h.path, { ...h.params, disposition: Disposition.OPEN, options: (h.params.options ?? 0) & ~CreateOptions.DELETE_ON_CLOSE });
          h.fileId = info.fileId;
          h.info = info;
          h.generation = gen;
          return;
        } catch (e) {
          // The server may still hold the old open of the dropped connection for a moment.
          if ((e as CeError).code !== 'SMB_SHARING_VIOLATION' || attempt >= 10) throw e;
          await new Promise((r) => setTimeout(r, 300));
        }
      }
    })().finally(() => {
      h.reopening = undefined;
    });
    await h.reopening;
  }

  /** Run an operation on an open handle with reconnect + reopen + retry. */
  onHandle<T>(h: SmbHandle, fn: () => Promise<T>): Promise<T> {
    return this.withRetry(async () => {
      await this.ensureOpen(h);
      return fn();
    });
  }

  async close(h: SmbHandle): Promise<void> {
    if (h.closed) return;
    h.closed = true;
    if (h.generation !== this.generation || this.conn.isClosed) return;
    await this.req(Cmd.CLOSE, closeRequest(h.fileId), `close ${h.path}`).catch((e) => {
      if (!isRetryable(e)) throw e;
    });
  }

  /** One READ of at most ioSize bytes into `into`; returns the bytes read (0 at EOF). */
  async readChunk(h: SmbHandle, offset: number, into: Buffer): Promise<number> {
    return this.onHandle(h, async () => {
      const r = await this.req(Cmd.READ, readRequest(h.fileId, offset, into.length), `read ${h.path}`, {
        chargeBytes: into.length,
        okStatus: [Status.END_OF_FILE],
        readInto: into,
      });
      if (r.status === Status.END_OF_FILE) return 0;
      if (r.data) return r.data.length; // received straight into `into`
      const data = readResponseData(r.msg);
      return copyInto(into, 0, data);
    });
  }

  /** One WRITE of at most ioSize bytes. The data is not copied; do not modify it until this resolves. */
  async writeChunk(h: SmbHandle, offset: number, data: Buffer): Promise<void> {
    await this.onHandle(h, async () => {
      const r = await this.req(Cmd.WRITE, writeRequest(h.fileId, offset, data.length), `write ${h.path}`, {
        payload: data,
        chargeBytes: data.length,
      });
      const n = writeResponseCount(r.msg);
      if (n !== data.length) {
        throw new CeError('SMB_SHORT_WRITE', `The server wrote ${n} of ${data.length} bytes at offset ${offset} of ${h.path}.`, {
          hint: 'The share is probably full.',
          status: 507,
        });
      }
    });
  }

  async flush(h: SmbHandle): Promise<void> {
    await this.onHandle(h, () => this.req(Cmd.FLUSH, flushRequest(h.fileId), `flush ${h.path}`));
  }

  async setEndOfFile(h: SmbHandle, length: number): Promise<void> {
    await this.onHandle(h, () => this.req(Cmd.SET_INFO, setInfoRequest(h.fileId, InfoType.FILE, FileInfo.END_OF_FILE, endOfFileInfo(length)), `set size of ${h.path}`));
  }

  /** Rename an open file (needs DELETE access); `newPath` is relative to the share root. */
  async rename(h: SmbHandle, newPath: string, replaceIfExists: boolean): Promise<void> {
    await this.onHandle(h, () =>
      this.req(Cmd.SET_INFO, setInfoRequest(h.fileId, InfoType.FILE, FileInfo.RENAME, renameInfo(newPath, replaceIfExists)), `rename ${h.path} to ${newPath}`),
    );
  }

  /** Mark an open file for deletion on close (needs DELETE access). */
  async markDeleted(h: SmbHandle): Promise<void> {
    await this.onHandle(h, () => this.req(Cmd.SET_INFO, setInfoRequest(h.fileId, InfoType.FILE, FileInfo.DISPOSITION, dispositionInfo(true)), `delete ${h.path}`));
  }

  async fileSize(h: SmbHandle): Promise<number> {
    return this.onHandle(h, async () => {
      const r = await this.req(Cmd.QUERY_INFO, queryInfoRequest(h.fileId, InfoType.FILE, FileInfo.STANDARD, 64), `stat ${h.path}`);
      return parseStandardInfo(outputBuffer(r.msg)).endOfFile;
    });
  }

  // ---- paths -------------------------------------------------------------------------------

  /** File metadata, or undefined when it does not exist. */
  async stat(path: string): Promise<{ size: number; isDirectory: boolean; mtime: number } | undefined> {
    try {
      const h = await this.open(path, { access: Access.FILE_READ_ATTRIBUTES | Access.SYNCHRONIZE, disposition: Disposition.OPEN, options: 0, share: ShareAccess.READ | ShareAccess.WRITE | ShareAccess.DELETE });
      await this.close(h);
      return {
        size: h.info.endOfFile,
        isDirectory: (h.info.fileAttributes & FileAttr.DIRECTORY) !== 0,
        mtime: Number(h.info.lastWriteTime / 10000n - 11644473600000n),
      };
    } catch (e) {
      if ((e as CeError).code === 'SMB_NOT_FOUND' || (e as CeError).code === 'SMB_PATH_NOT_FOUND') return undefined;
      throw e;
    }
  }

  async deleteFile(path: string): Promise<void> {
    const h = await this.open(path, {
      access: Access.DELETE | Access.FILE_READ_ATTRIBUTES,
      disposition: Disposition.OPEN,
      options: CreateOptions.NON_DIRECTORY_FILE | CreateOptions.DELETE_ON_CLOSE,
      share: ShareAccess.READ | ShareAccess.WRITE | ShareAccess.DELETE,
    });
    await this.close(h);
  }

  async list(dir: string): Promise<DirEntry[]> {
    const h = await this.open(dir, {
      access: Access.FILE_READ_DATA | Access.FILE_READ_ATTRIBUTES | Access.SYNCHRONIZE,
      disposition: Disposition.OPEN,
      options: CreateOptions.DIRECTORY_FILE,
      share: ShareAccess.READ | ShareAccess.WRITE | ShareAccess.DELETE,
    });
    try {
      const out: DirEntry[] = [];
      const outLen = Math.min(this.info.maxTransactSize, 64 * 1024);
      for (let first = true; ; first = false) {
        const r = await this.onHandle(h, () =>
          this.req(Cmd.QUERY_DIRECTORY, queryDirectoryRequest(h.fileId, FileInfo.ID_BOTH_DIRECTORY, '*', first ? QueryDirFlags.RESTART_SCANS : 0, outLen), `list ${dir || '\\'}`, {
            okStatus: [Status.NO_MORE_FILES],
            chargeBytes: outLen,
          }),
        );
        if (r.status === Status.NO_MORE_FILES) break;
        for (const e of parseIdBothDirectory(outputBuffer(r.msg))) if (e.name !== '.' && e.name !== '..') out.push(e);
        if (out.length > 1_000_000) throw new CeError('SMB_TOO_MANY_FILES', `More than a million entries in ${dir}.`, { status: 422 });
      }
      return out;
    } finally {
      await this.close(h).catch(() => undefined);
    }
  }

  /** Free and total space of the share (FileFsFullSizeInformation, quota-aware). */
  async fsSize(): Promise<FsFullSize> {
    const h = await this.open('', { access: Access.FILE_READ_ATTRIBUTES | Access.SYNCHRONIZE, disposition: Disposition.OPEN, options: CreateOptions.DIRECTORY_FILE, share: ShareAccess.READ | ShareAccess.WRITE | ShareAccess.DELETE });
    try {
      return await this.onHandle(h, async () => {
        const r = await this.req(Cmd.QUERY_INFO, queryInfoRequest(h.fileId, InfoType.FILESYSTEM, FsInfo.FULL_SIZE, 64), 'query free space');
        return parseFsFullSize(outputBuffer(r.msg));
      });
    } finally {
      await this.close(h).catch(() => undefined);
    }
  }

  /** Tree disconnect, logoff, close the socket. */
  async disconnect(): Promise<void> {
    this.disposed = true;
    const c = this.conn;
    if (!c || c.isClosed) return;
    try {
      await c.request(Cmd.TREE_DISCONNECT, treeDisconnectRequest(), { what: 'disconnect', treeId: this.treeId, encrypt: this.treeEncrypt, timeoutMs: 5000 });
      await c.request(Cmd.LOGOFF, logoffRequest(), { what: 'logoff', timeoutMs: 5000 });
    } catch {
      /* the server may already be gone */
    } finally {
      c.close();
    }
  }

  /** For tests: drop the socket as if the network failed. */
  dropConnectionForTest(): void {
    this.conn.close();
  }
}
