/**
 * hivex as the oracle for disk/hive: one `hivexsh` process is fed a script (`cd \path`, `ls`,
 * `lsval` for every key we know), and its output is compared with what hivexsh would print for
 * our own export. Any key or value we miss, add or decode differently shows up as a differing
 * line, because `ls` lists what hivex sees below each key.
 */
import { execa } from 'execa';
import type { ExportedKey, ExportedValue } from '../../disk/hive/export.js';

/** hivex hands names to C as NUL-terminated strings. */
function cName(s: string): string {
  const i = s.indexOf('\0');
  return i < 0 ? s : s.slice(0, i);
}

/** strcasecmp in the C locale, over UTF-8 bytes. */
function strcasecmp(a: string, b: string): number {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    let p = x[i]!;
    let q = y[i]!;
    if (p >= 0x41 && p <= 0x5a) p += 32;
    if (q >= 0x41 && q <= 0x5a) q += 32;
    if (p !== q) return p - q;
  }
  return x.length - y.length;
}

function quoted(s: string): string {
  return s.replace(/["\\]/g, (m) => `\\${m}`);
}

/** A value as `hivexsh lsval` prints it (hivexsh.c cmd_lsval). */
export function lsvalLine(v: ExportedValue): string {
  const raw = Buffer.from(v.hex, 'hex');
  const name = cName(v.name);
  let out = name ? `"${quoted(name)}"=` : '"@"=';
  if (v.type === 1 || v.type === 2 || v.type === 6) {
    // hivex_value_string: UTF-16LE up to the first NUL code unit
    let end = raw.length & ~1;
    for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i] === 0 && raw[i + 1] === 0) { end = i; break; }
    const s = cName(raw.toString('utf16le', 0, end));
    if (v.type !== 1) out += `str(${v.type}):`;
    out += `"${quoted(s)}"`;
  } else if (v.type === 4 || v.type === 5) {
    const n = raw.length < 4 ? 0xffffffff : v.type === 4 ? raw.readUInt32LE(0) : raw.readUInt32BE(0);
    out += `dword:${n.toString(16).padStart(8, '0')}`;
  } else {
    out += `hex(${v.type}):${[...raw].map((b) => b.toString(16).padStart(2, '0')).join(',')}`;
  }
  return out;
}

/** Whether hivexsh's line parser can `cd` to this path (it trims blanks and limits lines). */
export function hivexCanCd(path: string): boolean {
  if (path === '') return true;
  if (path.length > 4000) return false;
  return path.split('\\').map(cName).every((p) => p !== '' && p.trim() === p && p !== '.' && p !== '..' && !/[\t\n\r]/.test(p));
}

export interface HivexScript {
  script: string;
  expected: string;
  keys: number;
  values: number;
  skipped: string[];
}

/** The script for hivexsh and the output it must produce if our export is right. */
export function buildHivexScript(keys: ExportedKey[], childNames: Map<string, string[]>): HivexScript {
  const script: string[] = [];
  const expected: string[] = [];
  const skipped: string[] = [];
  let values = 0;
  let n = 0;
  for (const k of keys) {
    if (!hivexCanCd(k.path)) {
      skipped.push(k.path);
      continue;
    }
    n++;
    script.push(`cd \\${k.path.split('\\').map(cName).join('\\')}`, 'ls', 'lsval');
    const names = (childNames.get(k.path) ?? []).map(cName).sort(strcasecmp);
    expected.push(...names);
    for (const v of k.values) expected.push(lsvalLine(v));
    values += k.values.length;
  }
  return { script: script.join('\n') + '\n', expected: expected.map((l) => l + '\n').join(''), keys: n, values, skipped };
}

/** Child names per key path, from a depth-first export. */
export function childNameMap(keys: ExportedKey[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const k of keys) {
    if (k.path === '') continue;
    const i = k.path.lastIndexOf('\\');
    const parent = i < 0 ? '' : k.path.slice(0, i);
    const list = m.get(parent) ?? [];
    list.push(k.name);
    m.set(parent, list);
  }
  return m;
}

/** Run one hivexsh over the script; returns stdout (throws with stderr if hivexsh fails). */
export async function runHivexsh(hive: string, script: string): Promise<string> {
  const r = await execa('hivexsh', [hive], { input: script, reject: false, env: { LC_ALL: 'C.UTF-8' }, maxBuffer: 512 * 1024 * 1024, stripFinalNewline: false });
  if (r.exitCode !== 0) throw new Error(`hivexsh failed (exit ${r.exitCode}): ${String(r.stderr).slice(0, 2000)}`);
  return String(r.stdout);
}

/** First differing line between hivexsh's output and ours, with context, or undefined if equal. */
export function firstDifference(actual: string, expected: string): string | undefined {
  if (actual === expected) return undefined;
  const a = actual.split('\n');
  const e = expected.split('\n');
  for (let i = 0; i < Math.max(a.length, e.length); i++) {
    if (a[i] !== e[i]) return `line ${i + 1}:\n  hivexsh: ${JSON.stringify(a[i])}\n  ours:    ${JSON.stringify(e[i])}\n  before:  ${JSON.stringify(a.slice(Math.max(0, i - 3), i))}`;
  }
  return 'outputs differ';
}

/** Compare a hive file with our export of it through hivexsh. */
export async function compareWithHivex(hive: string, keys: ExportedKey[]): Promise<{ diff?: string; keys: number; values: number; skipped: string[] }> {
  const s = buildHivexScript(keys, childNameMap(keys));
  const out = await runHivexsh(hive, s.script);
  return { diff: firstDifference(out, s.expected), keys: s.keys, values: s.values, skipped: s.skipped };
}
