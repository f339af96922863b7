/**
 * Component staging: the installers a prepare needs come from a component source (a local
 * directory now; an SMB share through the same `ComponentSource` interface, whose files are
 * ByteSources), are copied onto the Windows volume under Program Files\CitrixCE\Components and
 * checked against the source's `manifest.json` (file → sha256). The CE never executes them: they
 * run inside the image at the isolated first boot.
 *
 * manifest.json:
 *   { "files": { "MachineIdentityServiceAgent_x64.msi": "<sha256 hex>", … },
 *     "components": { "misa": "<file>", "mcsio": "<file>", "pvs": "<file>", "pvs@2203.0.4000": "<file>" } }
 * `components` is optional: it overrides the default installer names of vda/components.ts.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CeError, throwIfCancelled } from '../core/errors.js';
import { fsyncDir } from '../core/atomic.js';
import { FileSource } from '../disk/io/file.js';
import type { ByteSource } from '../disk/types.js';
import { COMPONENTS, type ComponentId } from './components.js';
import type { NormalizedComponents } from './options.js';
import { COMPONENTS_DIR } from './firstboot/layout.js';

/** Where installers come from. A file is read through a ByteSource (positional reads, bounded memory). */
export interface ComponentSource {
  readonly name: string;
  /** Open a file of the source; COMPONENT_SOURCE_MISSING when it is not there. */
  open(file: string): Promise<ByteSource>;
  close(): Promise<void>;
}

export class LocalComponentSource implements ComponentSource {
  constructor(readonly dir: string) {}
  get name(): string {
    return this.dir;
  }
  async open(file: string): Promise<ByteSource> {
    checkFileName(file);
    try {
      return await FileSource.open(join(this.dir, file));
    } catch (e) {
      if (e instanceof CeError && e.code === 'SOURCE_NOT_FOUND') throw missing(file, this.dir);
      throw e;
    }
  }
  async close(): Promise<void> {}
}

export interface Manifest {
  files: Record<string, string>;
  components?: Record<string, string>;
}

export interface StagedFile {
  component: ComponentId;
  file: string;
  /** Relative to the volume root. */
  path: string;
  size: number;
  sha256: string;
}

const MAX_MANIFEST = 1024 * 1024;
const CHUNK = 4 * 1024 * 1024;

function missing(file: string, source: string): CeError {
  return new CeError('COMPONENT_SOURCE_MISSING', `The component source ${source} has no ${file}.`, {
    status: 422,
    hint: `Put ${file} (and its sha256 in manifest.json) into the component source, or drop the option that needs it.`,
    details: { file },
  });
}

/** Installer names are plain file names: no directories, no traversal, no Windows-reserved characters. */
function checkFileName(file: string): void {
  // eslint-disable-next-line no-control-regex
  if (!file || file.length > 200 || /[\\/:*?"<>|\x00-\x1f]/.test(file) || file === '.' || file === '..' || /^\.+$/.test(file)) {
    throw new CeError('COMPONENT_MANIFEST_INVALID', `"${file}" is not a plain file name.`, { status: 422, hint: 'manifest.json names files in the source directory itself.' });
  }
}

export async function readManifest(src: ComponentSource): Promise<Manifest> {
  let bs: ByteSource;
  try {
    bs = await src.open('manifest.json');
  } catch (e) {
    if (e instanceof CeError && e.code === 'COMPONENT_SOURCE_MISSING') {
      throw new CeError('COMPONENT_MANIFEST_MISSING', `The component source ${src.name} has no manifest.json.`, {
        status: 422,
        hint: 'Add manifest.json: {"files": {"<installer>": "<sha256>"}}.',
      });
    }
    throw e;
  }
  try {
    if (bs.size > MAX_MANIFEST) throw new CeError('COMPONENT_MANIFEST_INVALID', `manifest.json is ${bs.size} bytes; at most ${MAX_MANIFEST} are accepted.`, { status: 422 });
    const buf = Buffer.alloc(bs.size);
    await bs.pread(buf, 0);
    let m: unknown;
    try {
      m = JSON.parse(buf.toString('utf8').replace(/^\uFEFF/, ''));
    } catch (e) {
      throw new CeError('COMPONENT_MANIFEST_INVALID', `manifest.json is not JSON: ${(e as Error).message}`, { status: 422 });
    }
    return validateManifest(m);
  } finally {
    await bs.close();
  }
}

export function validateManifest(m: unknown): Manifest {
  const bad = (msg: string) => new CeError('COMPONENT_MANIFEST_INVALID', `manifest.json: ${msg}`, { status: 422, hint: 'Expected {"files": {"<file>": "<sha256 hex>"}, "components": {"misa": "<file>"}}.' });
  if (!m || typeof m !== 'object' || Array.isArray(m)) throw bad('not an object');
  const files = (m as { files?: unknown }).files;
  if (!files || typeof files !== 'object' || Array.isArray(files)) throw bad('"files" is missing');
  const out: Manifest = { files: {} };
  for (const [f, h] of Object.entries(files as Record<string, unknown>)) {
    checkFileName(f);
    if (typeof h !== 'string' || !/^[0-9a-f]{64}$/i.test(h)) throw bad(`the sha256 of ${f} is not 64 hex digits`);
    out.files[f] = h.toLowerCase();
  }
  const comps = (m as { components?: unknown }).components;
  if (comps !== undefined) {
    if (!comps || typeof comps !== 'object' || Array.isArray(comps)) throw bad('"components" is not an object');
    out.components = {};
    for (const [k, f] of Object.entries(comps as Record<string, unknown>)) {
      if (typeof f !== 'string') throw bad(`components.${k} is not a file name`);
      checkFileName(f);
      out.components[k] = f;
    }
  }
  return out;
}

/** The installer each requested component needs: manifest `components` first, then the default name. */
export function requiredInstallers(opts: NormalizedComponents, manifest?: Manifest): Array<{ component: ComponentId; file: string }> {
  const pick = (id: ComponentId, keys: string[]) => {
    for (const k of keys) {
      const f = manifest?.components?.[k];
      if (f) return f;
    }
    return COMPONENTS[id].installer!;
  };
  const out: Array<{ component: ComponentId; file: string }> = [];
  if (opts.misa === 'install') out.push({ component: 'misa', file: pick('misa', ['misa']) });
  if (opts.mcsio) out.push({ component: 'mcsio', file: pick('mcsio', ['mcsio']) });
  if (opts.pvsVersion) out.push({ component: 'pvs', file: pick('pvs', [`pvs@${opts.pvsVersion}`, 'pvs']) });
  return out;
}

/**
 * Check, without copying, that every needed installer is in the manifest and in the source
 * (COMPONENT_SOURCE_MISSING names the first missing file). Used by validation and dry runs.
 */
export async function checkComponentSource(src: ComponentSource, needed: Array<{ component: ComponentId; file: string }>, manifest: Manifest): Promise<Array<{ component: ComponentId; file: string; size: number }>> {
  const out: Array<{ component: ComponentId; file: string; size: number }> = [];
  for (const n of needed) {
    if (!manifest.files[n.file]) {
      throw new CeError('COMPONENT_SOURCE_MISSING', `manifest.json of ${src.name} lists no sha256 for ${n.file} (needed for ${COMPONENTS[n.component].label}).`, {
        status: 422,
        hint: `Add "${n.file}": "<sha256>" to manifest.json.`,
        details: { file: n.file, component: n.component },
      });
    }
    const bs = await src.open(n.file);
    out.push({ ...n, size: bs.size });
    await bs.close();
  }
  return out;
}

/**
 * Copy the installers onto the mounted volume (Program Files\CitrixCE\Components\<file>), hashing
 * as they stream; a hash mismatch removes the partial copy and fails with COMPONENT_HASH_MISMATCH.
 */
export async function stageComponents(
  src: ComponentSource,
  needed: Array<{ component: ComponentId; file: string }>,
  manifest: Manifest,
  volumeRoot: string,
  opts: { signal?: AbortSignal; onBytes?: (n: number) => void } = {},
): Promise<StagedFile[]> {
  await checkComponentSource(src, needed, manifest);
  const dir = join(volumeRoot, COMPONENTS_DIR);
  await mkdir(dir, { recursive: true });
  const staged: StagedFile[] = [];
  const buf = Buffer.allocUnsafe(CHUNK);
  for (const n of needed) {
    const bs = await src.open(n.file);
    const dst = join(dir, n.file);
    const tmp = `${dst}.partial`;
    const fh = await open(tmp, 'w');
    const hash = createHash('sha256');
    let ok = false;
    try {
      let pos = 0;
      while (pos < bs.size) {
        throwIfCancelled(opts.signal);
        const got = await bs.pread(buf.subarray(0, Math.min(CHUNK, bs.size - pos)), pos);
        if (got === 0) break;
        const chunk = buf.subarray(0, got);
        hash.update(chunk);
        await fh.write(chunk, 0, got, pos);
        pos += got;
        opts.onBytes?.(got);
      }
      const digest = hash.digest('hex');
      if (pos !== bs.size) throw new CeError('COMPONENT_SOURCE_READ', `${n.file} ended after ${pos} of ${bs.size} bytes.`, { status: 502 });
      if (digest !== manifest.files[n.file]) {
        throw new CeError('COMPONENT_HASH_MISMATCH', `${n.file} does not match its sha256 in manifest.json.`, {
          status: 422,
          hint: 'The installer in the component source is damaged or not the one the manifest names; replace it or fix the manifest.',
          details: { file: n.file, expected: manifest.files[n.file], actual: digest },
        });
      }
      await fh.sync();
      await fh.close();
      await rename(tmp, dst);
      ok = true;
      staged.push({ component: n.component, file: n.file, path: `${COMPONENTS_DIR}/${n.file}`, size: pos, sha256: digest });
    } finally {
      await bs.close();
      if (!ok) {
        await fh.close().catch(() => undefined);
        await rm(tmp, { force: true });
      }
    }
  }
  fsyncDir(dir);
  return staged;
}
