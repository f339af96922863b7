/**
 * The optional native AES-GCM (native/aead.c, built by scripts/build-native.sh into
 * native/ce-aead.node): encrypts and decrypts into buffers we choose, one pass, no allocation.
 * Without it (not built, no C compiler, CE_NATIVE_AEAD=off) SMB encryption falls back to
 * node:crypto, which allocates and copies every piece (see encryption.ts, gcm-worker.ts).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface NativeAead {
  /** Encrypt the concatenation of `parts` into `out` (same total length); the 16-byte tag into `tag`. */
  seal(key: Buffer, iv: Buffer, aad: Buffer, parts: Buffer[], out: Buffer, tag: Buffer): void;
  /** Decrypt `src` into `out` (may be `src`); false when the tag does not verify (discard `out`). */
  open(key: Buffer, iv: Buffer, aad: Buffer, tag: Buffer, src: Buffer, out: Buffer): boolean;
}

/** Where the built addon may be: beside this module (sources, release), or in the source tree (dist/ of a checkout). */
const CANDIDATES = ['./native/ce-aead.node', '../../../network/smb/native/ce-aead.node'];

let loaded: { aead?: NativeAead; why?: string } | undefined;

function load(): { aead?: NativeAead; why?: string } {
  if (process.env.CE_NATIVE_AEAD === 'off') return { why: 'turned off (CE_NATIVE_AEAD=off)' };
  const path = CANDIDATES.map((c) => fileURLToPath(new URL(c, import.meta.url))).find((p) => existsSync(p));
  if (!path) return { why: 'not built (scripts/build-native.sh)' };
  try {
    const aead = createRequire(import.meta.url)(path) as NativeAead;
    if (typeof aead.seal !== 'function' || typeof aead.open !== 'function') return { why: `${path} is not the CE's aead addon` };
    return { aead };
  } catch (e) {
    return { why: `${path} did not load: ${(e as Error).message}` };
  }
}

/** The native AES-GCM, or undefined (nativeAeadStatus() says why). Loaded once per thread. */
export function nativeAead(): NativeAead | undefined {
  loaded ??= load();
  return loaded.aead;
}

/** 'native' or the reason it is not used (for `ce smb backends`, logs and tests). */
export function nativeAeadStatus(): string {
  loaded ??= load();
  return loaded.aead ? 'native' : `node:crypto (native AES-GCM ${loaded.why})`;
}
