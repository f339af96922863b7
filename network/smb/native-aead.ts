/**
 * The optional native AES-GCM (native/aead.c, built by scripts/build-native.sh into
 * native/ce-aead.node): encrypts and decrypts into buffers we choose, one pass, no allocation.
 * Without it (not built, no C compiler, CE_NATIVE_AEAD=off) SMB encryption falls back to
 * node:crypto, which allocates and copies every piece (see encryption.ts, gcm-worker.ts).
 */
import { loadAddon, type AddonLoad } from '../../core/native-addon.js';

export interface NativeAead {
  /** Encrypt the concatenation of `parts` into `out` (same total length); the 16-byte tag into `tag`. */
  seal(key: Buffer, iv: Buffer, aad: Buffer, parts: Buffer[], out: Buffer, tag: Buffer): void;
  /** Decrypt `src` into `out` (may be `src`); false when the tag does not verify (discard `out`). */
  open(key: Buffer, iv: Buffer, aad: Buffer, tag: Buffer, src: Buffer, out: Buffer): boolean;
}

/** Where the built addon may be: beside this module (sources, release), or in the source tree (dist/ of a checkout). */
const CANDIDATES = ['./native/ce-aead.node', '../../../network/smb/native/ce-aead.node'];

let loaded: AddonLoad<NativeAead> | undefined;

const load = () => loadAddon<NativeAead>(import.meta.url, CANDIDATES, 'CE_NATIVE_AEAD', ['seal', 'open']);

/** The native AES-GCM, or undefined (nativeAeadStatus() says why). Loaded once per thread. */
export function nativeAead(): NativeAead | undefined {
  loaded ??= load();
  return loaded.addon;
}

/** 'native' or the reason it is not used (for `ce smb backends`, logs and tests). */
export function nativeAeadStatus(): string {
  loaded ??= load();
  return loaded.addon ? 'native' : `node:crypto (native AES-GCM ${loaded.why})`;
}
