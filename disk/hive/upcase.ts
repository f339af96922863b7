/**
 * Name comparison as the registry does it: per UTF-16 code unit upper-casing (a code unit whose
 * upper case is not a single code unit stays as is), ordinal comparison, and the lh hash
 * (regf spec, "Hash leaf": H = 37*H + upcase(c)).
 */
let table: Uint16Array | undefined;

function upcaseTable(): Uint16Array {
  if (table) return table;
  const t = new Uint16Array(65536);
  for (let c = 0; c < 65536; c++) {
    if (c < 0x61) { t[c] = c; continue; }
    if (c >= 0xd800 && c < 0xe000) { t[c] = c; continue; }
    const u = String.fromCharCode(c).toUpperCase();
    t[c] = u.length === 1 ? u.charCodeAt(0) : c;
  }
  table = t;
  return t;
}

export function upcaseName(name: string): string {
  let ascii = true;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) >= 0x80) { ascii = false; break; }
  // ASCII: JavaScript maps exactly a-z, and the 64K table is not built at all
  if (ascii) return name.toUpperCase();
  const t = upcaseTable();
  let out = '';
  for (let i = 0; i < name.length; i++) out += String.fromCharCode(t[name.charCodeAt(i)]!);
  return out;
}

export function lhHash(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const u = c < 0x80 ? (c >= 0x61 && c <= 0x7a ? c - 32 : c) : upcaseTable()[c]!;
    h = (Math.imul(h, 37) + u) >>> 0;
  }
  return h >>> 0;
}

/** Ordinal comparison of two already upper-cased names (by UTF-16 code unit). */
export function compareUpcased(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
