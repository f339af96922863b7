/** Read a systemd unit file into section -> key -> values (repeated keys accumulate). */
import { readFile } from 'node:fs/promises';

export type Unit = Record<string, Record<string, string[]>>;

export async function readUnit(path: string): Promise<Unit> {
  const unit: Unit = {};
  let section = '';
  for (const raw of (await readFile(path, 'utf8')).split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!;
      unit[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    (unit[section]![key] ??= []).push(line.slice(eq + 1));
  }
  return unit;
}

/** All values of a space-separated list setting, flattened. */
export function words(unit: Unit, section: string, key: string): string[] {
  return (unit[section]?.[key] ?? []).flatMap((v) => v.split(/\s+/).filter(Boolean));
}
