/**
 * SMB 3.x encryption (MS-SMB2 §3.1.4.3, §2.2.41): every message of an encrypted session/share is
 * wrapped in a 52-byte TRANSFORM_HEADER; the AEAD (AES-128-GCM or -CCM) covers the SMB2 message,
 * with the transform header from its Nonce field on (32 bytes) as associated data, and the tag
 * goes in the Signature field. Nonces are a per-session random prefix plus a counter, never reused.
 *
 * GCM goes through the native addon when it is built (native-aead.ts): large messages are
 * encrypted straight into a few reused output slots, received ones are decrypted in place; else
 * node:crypto, with large messages on a worker thread (gcm-worker.ts).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Cipher } from './packets/constants.js';
import { TRANSFORM_MAGIC } from './packets/header.js';
import { CeError } from '../../core/errors.js';
import { GcmWorker } from './gcm-worker.js';
import { nativeAead, type NativeAead } from './native-aead.js';
import { SlotPool } from './slot-pool.js';

export const TRANSFORM_HEADER_SIZE = 52;
/** Plaintext per cipher update() call (see encrypt()). */
const ENCRYPT_PIECE = 1024 * 1024;
/** Messages from this size on are encrypted ahead into output slots (worker or native). */
const LARGE_MIN = 256 * 1024;
/** The output slots: the largest message (8 MiB WRITE + headers). */
const LARGE_MAX = 8 * 1024 * 1024 + 4096;
/** Native: messages encrypted ahead of the socket (each slot waits until the socket took it). */
const NATIVE_SLOTS = 3;

export class Encryptor {
  private counter = 0n;
  private readonly salt = randomBytes(4);
  private worker?: GcmWorker;
  private slots?: SlotPool;
  /** The native AES-GCM, for GCM sessions when it is built. */
  private readonly native?: NativeAead;
  readonly algorithm: 'AES-128-GCM' | 'AES-128-CCM';

  /** @param native the AES-GCM addon to use (default: the built one, if any); null: node:crypto only */
  constructor(
    private readonly cipher: number,
    private readonly encryptionKey: Buffer,
    private readonly decryptionKey: Buffer,
    private readonly sessionId: bigint,
    native?: NativeAead | null,
  ) {
    this.algorithm = cipher === Cipher.AES128_GCM ? 'AES-128-GCM' : 'AES-128-CCM';
    if (cipher === Cipher.AES128_GCM) this.native = native === null ? undefined : (native ?? nativeAead());
  }

  /** Which AES-GCM does the work: the native addon or node:crypto. */
  get engine(): 'native' | 'node:crypto' {
    return this.native ? 'native' : 'node:crypto';
  }

  private get nonceLength(): number {
    return this.cipher === Cipher.AES128_GCM ? 12 : 11;
  }

  /**
   * Encrypt a message given as parts; returns [transformHeader, ...ciphertext parts].
   * The plaintext parts are not modified.
   */
  encrypt(parts: Buffer[]): Buffer[] {
    const size = parts.reduce((n, p) => n + p.length, 0);
    const th = this.transformHeader(size);
    const nonce = th.subarray(20, 20 + this.nonceLength);
    const aad = th.subarray(20, 52);
    if (this.native) {
      const ct = Buffer.allocUnsafe(size);
      this.native.seal(this.encryptionKey, nonce, aad, parts, ct, th.subarray(4, 20));
      return [th, ct];
    }
    const out: Buffer[] = [th];
    if (this.cipher === Cipher.AES128_GCM) {
      const c = createCipheriv('aes-128-gcm', this.encryptionKey, nonce);
      c.setAAD(aad);
      // In pieces: node's update() allocates its output twice (len + 1, then len zero-filled) and
      // copies between them; 1 MiB pieces are reused by malloc instead of mapping (and faulting
      // in) two fresh message-sized blocks each time (measured: 64 KiB pieces fault more).
      for (const p of parts) {
        for (let off = 0; off < p.length; off += ENCRYPT_PIECE) out.push(c.update(off === 0 && p.length <= ENCRYPT_PIECE ? p : p.subarray(off, Math.min(p.length, off + ENCRYPT_PIECE))));
      }
      c.final();
      c.getAuthTag().copy(th, 4);
    } else {
      // CCM needs the whole plaintext in one update.
      const c = createCipheriv('aes-128-ccm', this.encryptionKey, nonce, { authTagLength: 16 });
      c.setAAD(aad, { plaintextLength: size });
      out.push(c.update(parts.length === 1 ? parts[0]! : Buffer.concat(parts, size)));
      c.final();
      c.getAuthTag().copy(th, 4);
    }
    return out;
  }

  /** A TRANSFORM_HEADER with a fresh nonce; the Signature field (the tag) is left zero. */
  private transformHeader(size: number): Buffer {
    const th = Buffer.alloc(TRANSFORM_HEADER_SIZE);
    th.writeUInt32LE(TRANSFORM_MAGIC, 0);
    // Nonce: counter (8) ‖ salt (rest of the 11/12 bytes); remaining bytes of the 16-byte field stay zero.
    th.writeBigUInt64LE(this.counter++, 20);
    this.salt.copy(th, 28, 0, this.nonceLength - 8);
    th.writeUInt32LE(size, 36);
    th.writeUInt16LE(1, 42); // Flags: Encrypted
    th.writeBigUInt64LE(this.sessionId, 44);
    return th;
  }

  /**
   * Encrypt a large GCM message into a reused output slot: natively on this thread, else on the
   * worker thread when its payload is in shared memory (see gcm-worker.ts). Undefined when not
   * worthwhile, and the caller uses encrypt(). The result's `written` must be called once the
   * socket has taken the parts (it frees the output slot).
   */
  encryptLarge(parts: Buffer[]): Promise<{ parts: Buffer[]; written(): void }> | undefined {
    if (this.cipher !== Cipher.AES128_GCM) return undefined;
    let size = 0;
    for (const p of parts) size += p.length;
    if (size < LARGE_MIN || size > LARGE_MAX) return undefined;
    if (this.native) return this.encryptIntoSlot(this.native, parts, size);
    for (const p of parts) if (p.length > 4096 && !(p.buffer instanceof SharedArrayBuffer)) return undefined;
    this.worker ??= new GcmWorker(this.encryptionKey, LARGE_MAX);
    if (!this.worker.usable || size > this.worker.slotSize) return undefined;
    const th = this.transformHeader(size);
    return this.worker.encrypt(th.subarray(20, 32), th.subarray(20, 52), parts, size).then((r) => {
      r.tag.copy(th, 4);
      return { parts: [th, r.ciphertext], written: r.release };
    });
  }

  private async encryptIntoSlot(native: NativeAead, parts: Buffer[], size: number): Promise<{ parts: Buffer[]; written(): void }> {
    const th = this.transformHeader(size); // now: nonces follow the order of the requests
    const pool = (this.slots ??= new SlotPool(LARGE_MAX, NATIVE_SLOTS));
    const { slot, release } = await pool.lease();
    const out = slot.subarray(0, size);
    try {
      native.seal(this.encryptionKey, th.subarray(20, 32), th.subarray(20, 52), parts, out, th.subarray(4, 20));
    } catch (e) {
      release();
      throw e;
    }
    return { parts: [th, out], written: release };
  }

  /** Stop the encryption worker, if any (the connection is gone). */
  dispose(): void {
    this.worker?.dispose();
  }

  /**
   * Decrypt a large frame piece by piece (GCM: 1 MiB pieces, no message-sized output buffer),
   * handing each to `onPiece` with its offset in the SMB2 message. A piece may be a view of
   * `frame` (native GCM decrypts in place): valid only during the call, copy what must stay.
   * node:crypto checks the tag at the end: on a mismatch this throws after the pieces were handed
   * out, and the caller must discard them (native: checked before any piece is handed out).
   */
  decryptPieces(frame: Buffer, onPiece: (piece: Buffer, offset: number) => void): void {
    this.checkFrame(frame);
    if (this.native) {
      const ct = frame.subarray(TRANSFORM_HEADER_SIZE);
      if (!this.native.open(this.decryptionKey, frame.subarray(20, 32), frame.subarray(20, 52), frame.subarray(4, 20), ct, ct)) throw decryptError('authentication tag mismatch');
      onPiece(ct, 0);
      return;
    }
    if (this.cipher !== Cipher.AES128_GCM) {
      onPiece(this.decrypt(frame), 0);
      return;
    }
    const ct = frame.subarray(TRANSFORM_HEADER_SIZE);
    try {
      const d = createDecipheriv('aes-128-gcm', this.decryptionKey, frame.subarray(20, 32));
      d.setAAD(frame.subarray(20, 52));
      d.setAuthTag(frame.subarray(4, 20));
      let at = 0;
      for (let off = 0; off < ct.length; off += ENCRYPT_PIECE) {
        const piece = d.update(ct.subarray(off, Math.min(ct.length, off + ENCRYPT_PIECE)));
        onPiece(piece, at);
        at += piece.length;
      }
      d.final();
    } catch (e) {
      if (e instanceof CeError) throw e;
      throw decryptError('authentication tag mismatch');
    }
  }

  private checkFrame(frame: Buffer): void {
    if (frame.length < TRANSFORM_HEADER_SIZE) throw decryptError('transform header too short');
    const size = frame.readUInt32LE(36);
    if (size !== frame.length - TRANSFORM_HEADER_SIZE) throw decryptError('bad OriginalMessageSize');
    if (frame.readBigUInt64LE(44) !== this.sessionId) throw decryptError('unknown session');
  }

  /** Decrypt a TRANSFORM_HEADER frame into the SMB2 message. */
  decrypt(frame: Buffer): Buffer {
    this.checkFrame(frame);
    const nonce = frame.subarray(20, 20 + this.nonceLength);
    const aad = frame.subarray(20, 52);
    const tag = frame.subarray(4, 20);
    const ct = frame.subarray(TRANSFORM_HEADER_SIZE);
    if (this.native) {
      const out = Buffer.allocUnsafe(ct.length);
      if (!this.native.open(this.decryptionKey, nonce, aad, tag, ct, out)) throw decryptError('authentication tag mismatch');
      return out;
    }
    try {
      if (this.cipher === Cipher.AES128_GCM) {
        const d = createDecipheriv('aes-128-gcm', this.decryptionKey, nonce);
        d.setAAD(aad);
        d.setAuthTag(tag);
        const out = d.update(ct);
        d.final();
        return out;
      }
      const d = createDecipheriv('aes-128-ccm', this.decryptionKey, nonce, { authTagLength: 16 });
      d.setAuthTag(tag);
      d.setAAD(aad, { plaintextLength: ct.length });
      const out = d.update(ct);
      d.final();
      return out;
    } catch {
      throw decryptError('authentication tag mismatch');
    }
  }
}

function decryptError(why: string): CeError {
  return new CeError('SMB_DECRYPT_FAILED', `Could not decrypt a message from the server: ${why}.`, {
    hint: 'The message was tampered with or the keys disagree; the connection is dropped.',
    status: 502,
  });
}
