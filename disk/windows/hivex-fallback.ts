/**
 * Fallback hive implementation over hivex (Debian libhivex-bin) behind the HiveHandle interface,
 * used while disk/hive/hive.ts is not available. Reads the whole hive once with `hivexml` into a
 * tree; edits are kept in memory and written with one `hivexsh -w` script (`setval` per touched
 * key, `add`/`del` for keys) committed to a temp file, then renamed over the hive after a backup.
 * Limits: no transaction-log replay (a dirty hive is HIVE_DIRTY unless acceptDirty), no class
 * names, and value types hivexml calls "unknown" read as REG_NONE (never rewritten unless their key is edited).
 */
import { copyFile, mkdtemp, readFile, rename, rm, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { CeError } from '../../core/errors.js';
import { exists, fsyncDir } from '../../core/atomic.js';
import { runTool } from '../../core/tools.js';
import { REG, type HiveKey, type HiveOpenOptions, type HiveSaveOptions, type RegData, type RegValue } from '../hive/types.js';

const TYPE_BY_NAME: Record<string, number> = {
  none: 0, string: 1, expand: 2, binary: 3, int32: 4, 'int32-be': 5, link: 6, 'string-list': 7,
  'resource-list': 8, 'full-resource-description': 9, 'resource-requirements': 10, int64: 11,
};

export function encodeRegData(type: number, data: RegData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  switch (type) {
    case REG.SZ:
    case REG.EXPAND_SZ:
    case REG.LINK:
      return Buffer.from(String(data) + '\0', 'utf16le');
    case REG.MULTI_SZ: {
      const list = Array.isArray(data) ? data : [String(data)];
      return Buffer.from(list.map((s) => s + '\0').join('') + '\0', 'utf16le');
    }
    case REG.DWORD: {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(Number(data) >>> 0);
      return b;
    }
    case REG.DWORD_BIG_ENDIAN: {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(Number(data) >>> 0);
      return b;
    }
    case REG.QWORD: {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(data as number | bigint)));
      return b;
    }
    default:
      if (typeof data === 'string') return Buffer.from(data + '\0', 'utf16le');
      throw new CeError('HIVE_BAD_VALUE', `Cannot encode ${typeof data} as registry type ${type}.`);
  }
}

export function decodeRegData(type: number, raw: Buffer): RegData {
  switch (type) {
    case REG.SZ:
    case REG.EXPAND_SZ:
    case REG.LINK:
      return raw.toString('utf16le').replace(/\0.*$/s, '');
    case REG.MULTI_SZ: {
      const parts = raw.toString('utf16le').split('\0');
      while (parts.length && parts[parts.length - 1] === '') parts.pop();
      return parts;
    }
    case REG.DWORD:
      return raw.length >= 4 ? raw.readUInt32LE(0) : raw;
    case REG.DWORD_BIG_ENDIAN:
      return raw.length >= 4 ? raw.readUInt32BE(0) : raw;
    case REG.QWORD:
      return raw.length >= 8 ? raw.readBigUInt64LE(0) : raw;
    default:
      return raw;
  }
}

class Node implements HiveKey {
  values_: RegValue[] = [];
  children = new Map<string, Node>();
  lastWritten = new Date(0);
  constructor(
    readonly hive: HivexHive,
    readonly name: string,
    readonly parent: Node | undefined,
  ) {}
  get path(): string {
    if (!this.parent) return '';
    return this.parent.path ? `${this.parent.path}\\${this.name}` : this.name;
  }
  subkeys(): HiveKey[] {
    return [...this.children.values()];
  }
  subkey(name: string): HiveKey | undefined {
    return this.children.get(name.toLowerCase());
  }
  values(): RegValue[] {
    return [...this.values_];
  }
  value(name: string): RegValue | undefined {
    const n = name.toLowerCase();
    return this.values_.find((v) => v.name.toLowerCase() === n);
  }
  setValue(name: string, type: number, data: RegData): void {
    this.hive.assertWritable();
    const raw = encodeRegData(type, data);
    const v: RegValue = { name, type, raw, data: decodeRegData(type, raw) };
    const i = this.values_.findIndex((x) => x.name.toLowerCase() === name.toLowerCase());
    if (i >= 0) this.values_[i] = v;
    else this.values_.push(v);
    this.hive.touched.add(this);
  }
  deleteValue(name: string): boolean {
    this.hive.assertWritable();
    const i = this.values_.findIndex((x) => x.name.toLowerCase() === name.toLowerCase());
    if (i < 0) return false;
    this.values_.splice(i, 1);
    this.hive.touched.add(this);
    return true;
  }
  createKey(relPath: string): HiveKey {
    this.hive.assertWritable();
    let cur: Node = this;
    for (const part of relPath.split('\\').filter(Boolean)) {
      let next = cur.children.get(part.toLowerCase());
      if (!next) {
        next = new Node(this.hive, part, cur);
        cur.children.set(part.toLowerCase(), next);
        this.hive.ops.push({ op: 'add', node: next });
      }
      cur = next;
    }
    return cur;
  }
  deleteKey(name: string): boolean {
    this.hive.assertWritable();
    const child = this.children.get(name.toLowerCase());
    if (!child) return false;
    this.children.delete(name.toLowerCase());
    this.hive.ops.push({ op: 'del', path: child.path });
    const drop = (n: Node) => {
      this.hive.touched.delete(n);
      n.children.forEach(drop);
    };
    drop(child);
    return true;
  }
}

type Op = { op: 'add'; node: Node } | { op: 'del'; path: string };

export class HivexHive {
  root!: Node;
  touched = new Set<Node>();
  ops: Op[] = [];
  private constructor(
    readonly path: string,
    private readonly readOnly: boolean,
  ) {}

  static async open(path: string, opts: HiveOpenOptions = {}): Promise<HivexHive> {
    const fh = await open(path, 'r').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') throw new CeError('HIVE_NOT_FOUND', `The hive ${path} does not exist.`, { status: 404 });
      throw e;
    });
    const head = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(head, 0, 4096, 0);
    await fh.close();
    if (bytesRead < 4096 || head.subarray(0, 4).toString('latin1') !== 'regf') {
      throw new CeError('HIVE_NOT_A_HIVE', `${path} is not a registry hive (no regf base block).`, { hint: 'Check the file.' });
    }
    if (head.readUInt32LE(4) !== head.readUInt32LE(8) && !opts.acceptDirty) {
      throw new CeError('HIVE_DIRTY', `The hive ${basename(path)} is dirty (sequence numbers differ): its latest state is in the .LOG1/.LOG2 files.`, {
        hint: 'The hivex fallback cannot replay transaction logs; boot the source Windows and shut it down cleanly, or use the CE hive library.',
        details: { path },
      });
    }
    const h = new HivexHive(path, Boolean(opts.readOnly));
    // hivexml opens /dev/stdout itself (libxml), which fails on a pipe: give it a file.
    const dir = await mkdtemp(join(tmpdir(), 'ce-hivexml-'));
    try {
      const out = join(dir, 'hive.xml');
      // Paths are positional parameters of sh, never interpolated into the script.
      await runTool('sh', ['-c', 'exec hivexml "$1" > "$2"', 'sh', path, out], { failCode: 'HIVE_CORRUPT', failHint: 'The hive is damaged (hivexml could not read it).' });
      h.root = parseHivexml(h, await readFile(out, 'utf8'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return h;
  }

  assertWritable(): void {
    if (this.readOnly) throw new CeError('HIVE_READ_ONLY', `The hive ${this.path} was opened read-only.`, { status: 500 });
  }

  key(path: string): HiveKey | undefined {
    let cur: Node | undefined = this.root;
    for (const part of path.split('\\').filter(Boolean)) {
      cur = cur.children.get(part.toLowerCase());
      if (!cur) return undefined;
    }
    return cur;
  }

  ensureKey(path: string): HiveKey {
    return this.root.createKey(path);
  }

  async save(opts: HiveSaveOptions = {}): Promise<void> {
    this.assertWritable();
    const dst = opts.path ?? this.path;
    const tmp = `${dst}.partial`;
    const lines: string[] = [];
    const cd = (p: string) => lines.push(p ? `cd \\${p}` : 'cd \\ ');
    for (const o of this.ops) {
      if (o.op === 'del') {
        cd(o.path);
        lines.push('del');
      } else if (o.node.parent) {
        cd(o.node.parent.path);
        lines.push(`add ${o.node.name}`);
      }
    }
    for (const n of this.touched) {
      cd(n.path);
      lines.push(`setval ${n.values_.length}`);
      for (const v of n.values_) {
        lines.push(v.name === '' ? '@' : v.name);
        lines.push(`hex:${v.type}:${v.raw.toString('hex').replace(/(..)(?!$)/g, '$1,')}`);
      }
    }
    lines.push(`commit ${tmp}`);
    for (const l of lines) {
      if (l.includes('\n')) throw new CeError('HIVE_BAD_NAME', 'A key or value name contains a newline; the hivex fallback cannot write it.');
    }
    const scriptPath = join(dirname(tmp), `.${basename(dst)}.hivexsh`);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(scriptPath, lines.join('\n') + '\n');
    try {
      await runTool('hivexsh', ['-w', '-f', scriptPath, this.path], { failCode: 'HIVE_WRITE_FAILED', failHint: 'hivexsh could not apply the edit.' });
    } finally {
      await rm(scriptPath, { force: true });
    }
    const fh = await open(tmp, 'r+');
    await fh.sync();
    await fh.close();
    if (!opts.noBackup && !opts.path) {
      const backup = `${dst}.ce-backup`;
      // Keep the oldest backup: it is the state before the CE touched the image.
      if (!(await exists(backup))) {
        await copyFile(dst, `${backup}.partial`);
        await rename(`${backup}.partial`, backup);
      }
    }
    await rename(tmp, dst);
    fsyncDir(dirname(dst));
    this.ops = [];
    this.touched.clear();
  }
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return ENTITIES[e] ?? m;
  });
}

function attrs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/([a-z_]+)="([^"]*)"/g)) out[m[1]] = unescapeXml(m[2]);
  return out;
}

/** Parse hivexml output (a regular, tool-generated XML) into the node tree. */
function parseHivexml(h: HivexHive, xml: string): Node {
  const tag = /<(\/?)([a-z_]+)((?:\s+[a-z_]+="[^"]*")*)\s*(\/?)>/g;
  let root: Node | undefined;
  let cur: Node | undefined;
  let val: { a: Record<string, string>; strings: string[] } | undefined;
  let textStart = 0;
  let m: RegExpExecArray | null;
  while ((m = tag.exec(xml))) {
    const [, close, name, attrText, selfClose] = m;
    if (!close) {
      textStart = tag.lastIndex;
      if (name === 'node') {
        const a = attrs(attrText);
        const n: Node = new Node(h, a.name ?? '', cur);
        if (cur) cur.children.set(n.name.toLowerCase(), n);
        else root = n;
        cur = n;
      } else if (name === 'value') {
        val = { a: attrs(attrText), strings: [] };
        if (selfClose) {
          finishValue(cur, val);
          val = undefined;
        }
      }
      continue;
    }
    const text = xml.slice(textStart, m.index);
    if (name === 'node') cur = cur?.parent;
    else if (name === 'string' && val) val.strings.push(unescapeXml(text));
    else if (name === 'mtime' && cur && !val) cur.lastWritten = new Date(text);
    else if (name === 'value' && val) {
      finishValue(cur, val);
      val = undefined;
    }
  }
  if (!root) throw new CeError('HIVE_CORRUPT', 'hivexml returned no root key.');
  return root;
}

function finishValue(node: Node | undefined, v: { a: Record<string, string>; strings: string[] }): void {
  if (!node) return;
  const type = TYPE_BY_NAME[v.a.type] ?? REG.NONE;
  const name = v.a.default === '1' ? '' : (v.a.key ?? '');
  let raw: Buffer;
  if (v.a.encoding === 'base64') raw = Buffer.from((v.a.value ?? '').replace(/\s+/g, ''), 'base64');
  else if (type === REG.MULTI_SZ) raw = encodeRegData(type, v.strings.filter((s, i) => !(s === '' && i === v.strings.length - 1)));
  else if (type === REG.DWORD || type === REG.DWORD_BIG_ENDIAN) raw = encodeRegData(type, Number(v.a.value) >>> 0);
  else if (type === REG.QWORD) raw = encodeRegData(type, BigInt(v.a.value ?? '0'));
  else raw = encodeRegData(type === REG.NONE || type === REG.BINARY ? REG.SZ : type, v.a.value ?? '');
  node.values_.push({ name, type, raw, data: decodeRegData(type, raw) });
}

