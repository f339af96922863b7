/**
 * Direct TCP transport for SMB2 (MS-SMB2 §2.1): each message is prefixed by a 4-byte header,
 * a zero byte and a 24-bit big-endian length. Frames are reassembled into one Buffer each
 * (a view of the socket chunk when it holds the whole frame, else one copy), or, for large
 * frames, the handler may say where the bytes go (a READ's data straight into the caller's
 * buffer; ciphertext into a reused buffer).
 */
import { connect, type Socket } from 'node:net';
import { CeError } from '../../core/errors.js';
import { copyInto } from './io-buffer.js';

export const MAX_FRAME = 0xffffff;

/** Frames larger than this may be placed by the handler (placeFrame). */
export const PLACE_MIN = 64 * 1024;
/** Bytes of a large frame the handler sees before placing the rest: SMB2 header + READ response. */
export const FRAME_PEEK = 80;
/** The socket's reused read buffer. */
const READ_BUFFER = 256 * 1024;

export interface TransportHandlers {
  onFrame(frame: Buffer): void;
  onClose(err?: Error): void;
  /**
   * A frame of more than PLACE_MIN bytes is starting; `head` holds its first FRAME_PEEK bytes.
   * Return where its remaining `frameLength - FRAME_PEEK` bytes go (then onPlacedFrame is called
   * instead of onFrame), or undefined for a freshly allocated whole frame.
   */
  placeFrame?(head: Buffer, frameLength: number): Buffer | undefined;
  onPlacedFrame?(head: Buffer, rest: Buffer): void;
}

interface QueueItem {
  build?: () => Buffer[];
  ready?: Promise<{ parts: Buffer[]; written(): void }>;
  done?: { parts: Buffer[]; written(): void };
}

export class Transport {
  private header = Buffer.alloc(4);
  private headerHave = 0;
  /** Reassembly: NetBIOS header, first FRAME_PEEK bytes of a large frame, whole frame, or placed rest. */
  private state: 'header' | 'peek' | 'frame' | 'placed' = 'header';
  private frameLength = 0;
  private head?: Buffer;
  private target?: Buffer;
  private have = 0;
  private closed = false;
  /** Messages waiting for the socket (see enqueue). */
  private readonly queue: QueueItem[] = [];
  private flushing = false;
  private waitingDrain = false;

  private constructor(
    private readonly socket: Socket,
    private readonly handlers: TransportHandlers,
  ) {
    socket.on('error', (err) => this.close(err));
    socket.on('close', () => this.close());
  }

  static connect(host: string, port: number, timeoutMs: number, handlers: TransportHandlers): Promise<Transport> {
    return new Promise((resolve, reject) => {
      // Reads land in one reused buffer (no fresh 64 KiB buffer per read for the GC to collect);
      // onData consumes each read before returning (copies what it keeps).
      let sink: ((chunk: Buffer) => void) | undefined;
      const socket = connect({
        host,
        port,
        noDelay: true,
        onread: {
          buffer: Buffer.allocUnsafeSlow(READ_BUFFER),
          callback: (n: number, buf: Uint8Array) => {
            sink?.(Buffer.from(buf.buffer, buf.byteOffset, n));
            return true;
          },
        },
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new CeError('SMB_CONNECT_TIMEOUT', `No answer from ${host}:${port} within ${Math.round(timeoutMs / 1000)} s.`, {
            hint: 'Check the server name, the port (445) and firewalls between the CE and the server.',
            status: 504,
          }),
        );
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.setKeepAlive(true, 15_000);
        socket.removeAllListeners('error');
        const t = new Transport(socket, handlers);
        sink = (chunk) => t.onData(chunk);
        resolve(t);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          new CeError('SMB_CONNECT_FAILED', `Cannot connect to ${host}:${port}: ${err.code ?? err.message}.`, {
            hint: err.code === 'ENOTFOUND' ? 'Check the server name (DNS).' : 'Check that the server runs SMB on this port and that no firewall blocks it.',
            status: 502,
            details: { errno: err.code },
          }),
        );
      });
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Send one message given as parts (their total is the frame length). */
  send(parts: Buffer[]): void {
    this.enqueue(() => parts);
  }

  /**
   * Queue one message whose bytes are produced by `build` just before they are written: the next
   * message is built only once the socket has taken everything before it (the kernel's socket
   * buffer still feeds the server meanwhile). So at most one message of signed/encrypted output
   * exists at a time (encryption allocates a ciphertext copy: built late, it is still in cache
   * when the socket copies it, and dead before the next young-generation GC, instead of being
   * promoted and left to full GCs). Messages go out in queue order. A throwing `build` closes
   * the connection.
   */
  enqueue(build: () => Buffer[]): void {
    if (this.closed) return;
    this.queue.push({ build });
    this.flush();
  }

  /**
   * Queue a message being prepared elsewhere (encrypted on the worker thread): written in queue
   * order once ready, without waiting for the socket to drain (the preparer bounds the memory);
   * `written` runs once the socket has taken it. A rejection closes the connection.
   */
  enqueueReady(ready: Promise<{ parts: Buffer[]; written(): void }>): void {
    const item: QueueItem = { ready };
    ready.then(
      (r) => {
        item.done = r;
        if (this.closed) r.written();
        else this.flush();
      },
      (e) => this.close(e as Error),
    );
    if (this.closed) return;
    this.queue.push(item);
  }

  private write(parts: Buffer[], written?: () => void): void {
    let len = 0;
    for (const p of parts) len += p.length;
    if (len > MAX_FRAME) throw new Error(`SMB frame too large: ${len}`);
    // The 4-byte length and a small first part (SMB2/transform header) go as one buffer.
    const first = parts[0]!;
    const merge = parts.length > 1 && first.length <= 512;
    const nb = Buffer.allocUnsafe(merge ? 4 + first.length : 4);
    nb.writeUInt32BE(len);
    if (merge) first.copy(nb, 4);
    this.socket.cork();
    this.socket.write(nb);
    for (let i = merge ? 1 : 0; i < parts.length; i++) {
      if (written && i === parts.length - 1) this.socket.write(parts[i]!, () => written());
      else this.socket.write(parts[i]!);
    }
    this.socket.uncork();
  }

  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length && !this.closed) {
        const item = this.queue[0]!;
        if (item.ready) {
          if (!item.done) break; // flush() runs again when it is ready
          this.queue.shift();
          this.write(item.done.parts, item.done.written);
          continue;
        }
        if (this.socket.writableNeedDrain) break;
        this.queue.shift();
        this.write(item.build!());
      }
    } catch (e) {
      this.close(e as Error);
    } finally {
      this.flushing = false;
    }
    if (this.queue.length && this.queue[0]!.build && !this.closed && !this.waitingDrain && this.socket.writableNeedDrain) {
      this.waitingDrain = true;
      this.socket.once('drain', () => {
        this.waitingDrain = false;
        this.flush();
      });
    }
  }

  /** Resolves when the socket's write buffer has drained (backpressure). */
  drained(): Promise<void> {
    if (this.closed || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    // Prepared messages never written: give their buffers back.
    for (const item of this.queue.splice(0)) item.done?.written();
    this.socket.destroy();
    this.handlers.onClose(err);
  }

  private onData(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.closed) {
      if (this.state === 'header') {
        // Fast path: the whole header and frame in this chunk (the read buffer is reused: a copy).
        if (this.headerHave === 0 && chunk.length - off >= 4 && chunk[off] === 0) {
          const len = chunk.readUInt32BE(off) & MAX_FRAME;
          if (chunk.length - off - 4 >= len) {
            const f = Buffer.from(chunk.subarray(off + 4, off + 4 + len));
            off += 4 + len;
            this.handlers.onFrame(f);
            continue;
          }
        }
        const n = Math.min(4 - this.headerHave, chunk.length - off);
        chunk.copy(this.header, this.headerHave, off, off + n);
        this.headerHave += n;
        off += n;
        if (this.headerHave < 4) return;
        if (this.header[0] !== 0) {
          this.close(new Error('bad NetBIOS session message type'));
          return;
        }
        this.headerHave = 0;
        this.frameLength = this.header.readUInt32BE(0) & MAX_FRAME;
        this.have = 0;
        if (this.frameLength > PLACE_MIN && this.handlers.placeFrame) {
          this.head = Buffer.allocUnsafe(FRAME_PEEK);
          this.state = 'peek';
        } else {
          this.target = Buffer.allocUnsafe(this.frameLength);
          this.state = 'frame';
        }
        continue;
      }
      const target = this.state === 'peek' ? this.head! : this.target!;
      const n = Math.min(target.length - this.have, chunk.length - off);
      copyInto(target, this.have, chunk.subarray(off, off + n));
      this.have += n;
      off += n;
      if (this.have < target.length) continue;
      if (this.state === 'peek') {
        const rest = this.handlers.placeFrame!(this.head!, this.frameLength);
        if (rest) {
          this.target = rest;
          this.have = 0;
          this.state = 'placed';
        } else {
          this.target = Buffer.allocUnsafe(this.frameLength);
          this.head!.copy(this.target);
          this.state = 'frame';
        }
        continue;
      }
      const done = this.target!;
      const head = this.head;
      const placed = this.state === 'placed';
      this.target = undefined;
      this.head = undefined;
      this.state = 'header';
      if (placed) this.handlers.onPlacedFrame!(head!, done);
      else this.handlers.onFrame(done);
    }
  }
}
