/**
 * One SMB2 connection: message ids and credits (MS-SMB2 §3.2.4.1.3/§3.2.5.1.4), many requests in
 * flight matched by MessageId, signing and encryption of requests, signature verification and
 * decryption of responses, interim (STATUS_PENDING) responses, and failure of everything in
 * flight when the socket drops. One session per connection (that is all the CE needs).
 */
import { Transport, FRAME_PEEK, PLACE_MIN } from './transport.js';
import { copyInto } from './io-buffer.js';
import { Cmd, HdrFlags, HEADER_SIZE } from './packets/constants.js';
import { readResponseHeader, writeRequestHeader, SMB2_MAGIC, TRANSFORM_MAGIC, type ResponseHeader } from './packets/header.js';
import { Status, connectionLost, smbProtocolError, smbStatusError } from './status.js';
import { verifyMessage, type Signer } from './signing.js';
import { TRANSFORM_HEADER_SIZE, type Encryptor } from './encryption.js';
import { CeError } from '../../core/errors.js';

export interface SessionState {
  id: bigint;
  signer?: Signer;
  signingRequired: boolean;
  encryptor?: Encryptor;
  encryptAll: boolean;
}

export interface SendOptions {
  /** What we are doing, for error messages ("open images/a.vhdx"). */
  what: string;
  treeId?: number;
  /** Data sent after the body (WRITE), not copied. */
  payload?: Buffer;
  /** Bytes moved by this request (READ length / WRITE length): sets the multi-credit charge. */
  chargeBytes?: number;
  /** Encrypt this request (share requires it) even if the session does not. */
  encrypt?: boolean;
  /** Sign even when signing is not required (SMB 3.1.1 TREE_CONNECT, §3.2.4.2.3). */
  forceSign?: boolean;
  /** Session id for SESSION_SETUP before the session is established. */
  sessionId?: bigint;
  /** Statuses that resolve instead of reject (MORE_PROCESSING_REQUIRED, NO_MORE_FILES…). */
  okStatus?: number[];
  /** READ: where the data may go directly (then Reply.data is a view of it, no copy). */
  readInto?: Buffer;
  /** Sees the plaintext request bytes (pre-auth integrity hash). */
  onRequestBytes?(parts: Buffer[]): void;
  timeoutMs?: number;
}

export interface Reply {
  header: ResponseHeader;
  /** The whole SMB2 message (header + body); offsets in bodies are relative to it. */
  msg: Buffer;
  status: number;
  /** READ data already placed in SendOptions.readInto (msg then holds header + READ body only). */
  data?: Buffer;
}

interface Pending {
  resolve(r: Reply): void;
  reject(e: unknown): void;
  what: string;
  okStatus?: number[];
  creditRequest: number;
  readInto?: Buffer;
  timer?: NodeJS.Timeout;
  timeoutMs: number;
}

export interface ConnectionOptions {
  host: string;
  port: number;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Credits we try to hold (default 1024 = 64 MiB of multi-credit I/O). */
  creditTarget?: number;
  onClose?(err?: Error): void;
}

export class Connection {
  private transport!: Transport;
  private nextMessageId = 0;
  private credits = 1;
  private outstandingRequested = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters: Array<{ charge: number; resolve(): void; reject(e: unknown): void }> = [];
  private closedError?: CeError;
  private echoes = 0;
  /** Set after NEGOTIATE: multi-credit requests allowed (2.1+ with LARGE_MTU). */
  largeMtu = false;
  session?: SessionState;
  readonly name: string;

  private constructor(private readonly opts: ConnectionOptions) {
    this.name = `${opts.host}:${opts.port}`;
  }

  static async open(opts: ConnectionOptions): Promise<Connection> {
    const c = new Connection(opts);
    c.transport = await Transport.connect(opts.host, opts.port, opts.connectTimeoutMs ?? 15_000, {
      onFrame: (f) => c.onFrame(f),
      onClose: (err) => c.onClose(err),
      placeFrame: (head, len) => c.placeFrame(head, len),
      onPlacedFrame: (head, rest) => c.onPlacedFrame(head, rest),
    });
    return c;
  }

  get isClosed(): boolean {
    return this.closedError !== undefined;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  close(): void {
    this.transport.close();
  }

  /** Send a request and wait for its final response. Rejects with a typed error on a failure status. */
  async request(command: number, body: Buffer, o: SendOptions): Promise<Reply> {
    if (this.closedError) throw this.closedError;
    const charge = this.largeMtu ? Math.max(1, Math.ceil((o.chargeBytes ?? 0) / 65536)) : 1;
    await this.acquire(charge);
    if (this.closedError) throw this.closedError;

    const messageId = this.nextMessageId;
    this.nextMessageId += charge;
    const target = this.opts.creditTarget ?? 1024;
    const creditRequest = Math.max(1, Math.min(4096, target - this.credits - this.outstandingRequested));
    this.outstandingRequested += creditRequest;

    const s = this.session;
    const isSetup = command === Cmd.NEGOTIATE || command === Cmd.SESSION_SETUP;
    const encrypt = !isSetup && !!s?.encryptor && (s.encryptAll || !!o.encrypt);
    const sign = !isSetup && !encrypt && !!s?.signer && (s.signingRequired || !!o.forceSign);

    const head = Buffer.allocUnsafe(HEADER_SIZE + body.length);
    writeRequestHeader(head, 0, {
      command,
      creditCharge: this.largeMtu ? charge : 0,
      creditRequest,
      flags: sign ? HdrFlags.SIGNED : 0,
      messageId,
      treeId: o.treeId ?? 0,
      sessionId: o.sessionId ?? s?.id ?? 0n,
    });
    body.copy(head, HEADER_SIZE);
    const parts = o.payload ? [head, o.payload] : [head];
    o.onRequestBytes?.(parts);
    const signer = sign ? s!.signer! : undefined;
    const encryptor = encrypt ? s!.encryptor! : undefined;

    return new Promise<Reply>((resolve, reject) => {
      const p: Pending = {
        resolve,
        reject,
        what: o.what,
        okStatus: o.okStatus,
        creditRequest,
        readInto: o.readInto,
        timeoutMs: o.timeoutMs ?? this.opts.requestTimeoutMs ?? 120_000,
      };
      this.arm(messageId, p);
      this.pending.set(messageId, p);
      // Big messages: encrypted into reused output slots (native AES-GCM, else the worker thread), a few ahead of the socket.
      const large = encryptor?.encryptLarge(parts);
      if (large) {
        this.transport.enqueueReady(large);
        return;
      }
      // Signed/encrypted when the socket is ready for it (Transport.enqueue).
      this.transport.enqueue(() => {
        if (signer) signer.sign(parts, BigInt(messageId), false, command === Cmd.CANCEL).copy(head, 48);
        return encryptor ? encryptor.encrypt(parts) : parts;
      });
    });
  }

  /** Wait until the socket buffer drains (callers with big payloads use it for backpressure). */
  drained(): Promise<void> {
    return this.transport.drained();
  }

  private arm(messageId: number, p: Pending): void {
    if (p.timer) clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      const err = new CeError('SMB_TIMEOUT', `The server did not answer within ${Math.round(p.timeoutMs / 1000)} s (${p.what}).`, {
        hint: 'The server or the network is stalled; the connection is dropped and retried.',
        status: 504,
      });
      this.pending.delete(messageId);
      p.reject(err);
      this.transport.close(err);
    }, p.timeoutMs);
    p.timer.unref?.();
  }

  private acquire(charge: number): Promise<void> {
    if (this.waiters.length === 0 && this.credits >= charge) {
      this.credits -= charge;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ charge, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.waiters.length && this.credits >= this.waiters[0]!.charge) {
      const w = this.waiters.shift()!;
      this.credits -= w.charge;
      w.resolve();
    }
    if (!this.waiters.length) this.echoes = 0;
    // Nothing in flight can bring more credits: ask for them with an ECHO (1 credit), a few times.
    if (this.waiters.length && this.pending.size === 0 && !this.closedError && (this.credits < 1 || this.echoes >= 4)) {
      const err = new CeError('SMB_NO_CREDITS', `The server grants too few credits (${this.credits}) for a request needing ${this.waiters[0]!.charge}.`, {
        hint: 'Use a smaller --io-size, or raise the server credit limit (Samba "smb2 max credits").',
        status: 502,
      });
      for (const w of this.waiters.splice(0)) w.reject(err);
      return;
    }
    if (this.waiters.length && this.pending.size === 0 && this.credits >= 1 && !this.closedError) {
      this.echoes++;
      this.credits -= 1;
      const messageId = this.nextMessageId++;
      const need = this.waiters[0]!.charge + 64;
      this.outstandingRequested += need;
      const head = Buffer.alloc(HEADER_SIZE + 4);
      const s = this.session;
      const encrypt = !!s?.encryptor && s.encryptAll;
      const sign = !encrypt && !!s?.signer && s.signingRequired;
      writeRequestHeader(head, 0, { command: Cmd.ECHO, creditCharge: this.largeMtu ? 1 : 0, creditRequest: need, flags: sign ? HdrFlags.SIGNED : 0, messageId, treeId: 0, sessionId: s?.id ?? 0n });
      head.writeUInt16LE(4, HEADER_SIZE);
      let parts: Buffer[] = [head];
      if (sign) s!.signer!.sign(parts, BigInt(messageId), false, false).copy(head, 48);
      if (encrypt) parts = s!.encryptor!.encrypt(parts);
      const p: Pending = { resolve: () => undefined, reject: () => undefined, what: 'echo', creditRequest: need, timeoutMs: 30_000 };
      this.arm(messageId, p);
      this.pending.set(messageId, p);
      this.transport.send(parts);
    }
  }

  /** Reused for ciphertext frames: they are decrypted (into new memory) as soon as complete. */
  private cipherFrame?: Buffer;
  private placing?: 'cipher' | 'read';

  /** Transport asks where a large frame goes (see TransportHandlers.placeFrame). */
  private placeFrame(head: Buffer, len: number): Buffer | undefined {
    this.placing = undefined;
    const magic = head.readUInt32LE(0);
    if (magic === TRANSFORM_MAGIC) {
      if (!this.session?.encryptor) return undefined;
      if (!this.cipherFrame || this.cipherFrame.length < len) this.cipherFrame = Buffer.allocUnsafeSlow(Math.max(len, 8 * 1024 * 1024 + 4096));
      head.copy(this.cipherFrame, 0);
      this.placing = 'cipher';
      return this.cipherFrame.subarray(FRAME_PEEK, len);
    }
    if (magic !== SMB2_MAGIC) return undefined;
    const into = this.readTarget(head, len);
    if (into) this.placing = 'read';
    return into;
  }

  /**
   * For a successful single READ response of `len` bytes whose header + body is `head`: the part
   * of the caller's buffer (SendOptions.readInto) its data goes to, else undefined.
   */
  private readTarget(head: Buffer, len: number): Buffer | undefined {
    if (head.readUInt16LE(12) !== Cmd.READ || head.readUInt32LE(8) !== Status.SUCCESS) return undefined;
    if (head.readUInt32LE(20) !== 0) return undefined; // compounded: the usual path
    const into = this.pending.get(Number(head.readBigUInt64LE(24)))?.readInto;
    const dataLength = head.readUInt32LE(HEADER_SIZE + 4);
    if (!into || head[HEADER_SIZE + 2] !== FRAME_PEEK || dataLength !== len - FRAME_PEEK || dataLength > into.length) return undefined;
    return into.subarray(0, dataLength);
  }

  /**
   * Decrypt a large frame in pieces: a READ response's data goes straight into the caller's buffer
   * (→ head + data), anything else is assembled into one message (→ msg).
   */
  private decryptLarge(enc: Encryptor, frame: Buffer): { msg?: Buffer; head?: Buffer; data?: Buffer } {
    const size = frame.length - TRANSFORM_HEADER_SIZE;
    let head: Buffer | undefined;
    let into: Buffer | undefined;
    const pieces: Buffer[] = [];
    enc.decryptPieces(frame, (piece, off) => {
      if (off === 0 && piece.length >= FRAME_PEEK) {
        into = this.readTarget(piece, size);
        if (into) {
          head = Buffer.from(piece.subarray(0, FRAME_PEEK));
          copyInto(into, 0, piece.subarray(FRAME_PEEK));
          return;
        }
      }
      if (into) copyInto(into, off - FRAME_PEEK, piece);
      else pieces.push(piece);
    });
    if (head) return { head, data: into! };
    // Always a copy: a piece may be a view of the reused frame buffer (native GCM decrypts in place).
    return { msg: Buffer.concat(pieces, size) };
  }

  private onPlacedFrame(head: Buffer, rest: Buffer): void {
    if (this.placing === 'cipher') {
      this.onFrame(this.cipherFrame!.subarray(0, FRAME_PEEK + rest.length));
      return;
    }
    try {
      this.onMessage(head, false, rest);
    } catch (e) {
      this.transport.close(e as Error);
    }
  }

  private onFrame(frame: Buffer): void {
    try {
      if (frame.length < 4) throw smbProtocolError('short frame');
      let msg = frame;
      let encrypted = false;
      const magic = frame.readUInt32LE(0);
      if (magic === TRANSFORM_MAGIC) {
        const enc = this.session?.encryptor;
        if (!enc) throw smbProtocolError('encrypted message without an encrypted session');
        encrypted = true;
        if (frame.length - TRANSFORM_HEADER_SIZE > PLACE_MIN) {
          const r = this.decryptLarge(enc, frame);
          if (r.head) {
            this.onMessage(r.head, true, r.data);
            return;
          }
          msg = r.msg!;
        } else msg = enc.decrypt(frame);
      } else if (magic !== SMB2_MAGIC) {
        throw smbProtocolError('not an SMB2 message (SMB1 or another protocol?)');
      }
      for (;;) {
        if (msg.length < HEADER_SIZE) throw smbProtocolError('message shorter than the header');
        const next = msg.readUInt32LE(20);
        if (next !== 0 && (next < HEADER_SIZE || next > msg.length)) throw smbProtocolError('bad NextCommand');
        this.onMessage(next ? msg.subarray(0, next) : msg, encrypted);
        if (!next) break;
        msg = msg.subarray(next);
      }
    } catch (e) {
      this.transport.close(e as Error);
    }
  }

  private onMessage(msg: Buffer, encrypted: boolean, placedData?: Buffer): void {
    const h = readResponseHeader(msg);
    if (h.messageId === 0xffffffffffffffffn) return; // unsolicited oplock/lease break: we take no oplocks
    const id = Number(h.messageId);
    const p = this.pending.get(id);
    this.credits += h.credits;
    if (!p) {
      this.pump();
      return;
    }
    if (h.status === Status.PENDING && h.flags & HdrFlags.ASYNC_COMMAND) {
      this.arm(id, p); // interim response: the final one follows, restart its timer
      this.pump();
      return;
    }
    this.pending.delete(id);
    if (p.timer) clearTimeout(p.timer);
    this.outstandingRequested = Math.max(0, this.outstandingRequested - p.creditRequest);
    this.pump();

    const s = this.session;
    if (s && h.sessionId === s.id && !encrypted) {
      if (s.encryptAll && h.command !== Cmd.SESSION_SETUP) {
        p.reject(integrityError('an unencrypted response on an encrypted session', p.what));
        return;
      }
      if (s.signer && (h.flags & HdrFlags.SIGNED || s.signingRequired)) {
        if (!(h.flags & HdrFlags.SIGNED)) {
          p.reject(integrityError('an unsigned response on a signed session', p.what));
          return;
        }
        if (!verifyMessage(s.signer, msg, placedData)) {
          p.reject(integrityError('a response with a bad signature', p.what));
          this.transport.close(new Error('bad signature'));
          return;
        }
      }
    }
    if (h.status !== Status.SUCCESS && !p.okStatus?.includes(h.status)) {
      p.reject(smbStatusError(h.status, p.what));
      return;
    }
    p.resolve({ header: h, msg, status: h.status, data: placedData });
  }

  private onClose(err?: Error): void {
    this.session?.encryptor?.dispose();
    this.closedError = err instanceof CeError && err.code === 'SMB_PROTOCOL' ? err : connectionLost(this.name, err);
    for (const [, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(this.closedError);
    }
    this.pending.clear();
    for (const w of this.waiters.splice(0)) w.reject(this.closedError);
    this.opts.onClose?.(err);
  }
}

function integrityError(what: string, op: string): CeError {
  return new CeError('SMB_INTEGRITY', `The server sent ${what} (${op}).`, {
    hint: 'Someone may be tampering with the connection, or the server is misconfigured.',
    status: 502,
  });
}

