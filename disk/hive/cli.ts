/**
 * `ce hive get|set|delete|export|check`: read and edit offline registry hives from the shell.
 * Edits save in place atomically after a one-time `<hive>.ce-backup` (or to --output).
 */
import type { Command } from 'commander';
import { runCommand, printResult, EXIT, bigintReplacer } from '../../core/cli-kit.js';
import { Hive } from './hive.js';
import { hiveError } from './errors.js';
import { checkHive, iterateKeys, type ExportedKey } from './export.js';
import { parseTypeName, typeName, jsonData } from './value-codec.js';
import { REG, type RegData, type RegValue } from './types.js';

interface CommonOpts {
  json?: boolean;
  acceptDirty?: boolean;
  log?: string[];
}

function openOpts(o: CommonOpts, readOnly: boolean) {
  return { acceptDirty: Boolean(o.acceptDirty), readOnly, logs: o.log && o.log.length ? o.log : undefined };
}

/** '@' names the default value, as in .reg files. */
function valueName(v: string): string {
  return v === '@' ? '' : v;
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

function valueJson(v: RegValue) {
  return { name: v.name, type: v.type, typeName: typeName(v.type), size: v.raw.length, data: jsonData(v.type, v.raw), hex: v.raw.toString('hex') };
}

function showValue(v: { name: string; typeName: string; data: unknown }): string {
  const d = Array.isArray(v.data) ? v.data.join(' | ') : String(v.data);
  return `${v.name === '' ? '@' : JSON.stringify(v.name)} ${v.typeName} ${d}`;
}

/** Turn --data strings into RegData for a type. */
export function parseData(type: number, data: string[], hex: boolean): RegData {
  if (hex) {
    const h = data.join('').replace(/[\s,:]/g, '');
    if (!/^([0-9a-fA-F]{2})*$/.test(h)) throw hiveError('HIVE_BAD_DATA', '--hex data must be pairs of hex digits.', {});
    return Buffer.from(h, 'hex');
  }
  switch (type) {
    case REG.SZ:
    case REG.EXPAND_SZ:
    case REG.LINK:
      return data.join(' ');
    case REG.MULTI_SZ:
      return data;
    case REG.DWORD:
    case REG.DWORD_BIG_ENDIAN: {
      const s = data.join('').trim();
      const n = Number(s);
      if (!/^(0x[0-9a-f]+|-?\d+)$/i.test(s) || !Number.isInteger(n) || n < -0x80000000 || n > 0xffffffff) throw hiveError('HIVE_BAD_DATA', `"${s}" is not a 32-bit number.`, {});
      return n;
    }
    case REG.QWORD: {
      const s = data.join('').trim();
      try {
        const n = BigInt(s);
        if (n < -(2n ** 63n) || n >= 2n ** 64n) throw new Error('range');
        return n;
      } catch {
        throw hiveError('HIVE_BAD_DATA', `"${s}" is not a 64-bit number.`, {});
      }
    }
    default:
      return parseData(type, data, true);
  }
}

function humanKey(k: ExportedKey): string {
  const lines = [`[\\${k.path}]${k.className !== undefined ? ` class=${JSON.stringify(k.className)}` : ''}`];
  for (const v of k.values) lines.push(`  ${showValue(v)}`);
  return lines.join('\n');
}

/** Write to stdout respecting back-pressure (buffered chunks of about 1 MiB). */
let pending = '';
async function writeOut(s: string, flush = false): Promise<void> {
  pending += s;
  if (pending.length < 1 << 20 && !flush) return;
  const chunk = pending;
  pending = '';
  if (!process.stdout.write(chunk)) await new Promise<void>((r) => process.stdout.once('drain', () => r()));
}

export function registerCommands(program: Command): void {
  const hive = program.command('hive').description('read and edit offline Windows registry hives (regf)');
  const common = (c: Command) =>
    c
      .option('--json', 'JSON output')
      .option('--accept-dirty', 'use a dirty hive without its transaction logs as it is')
      .option('--log <file>', 'transaction log to replay (repeatable; default <hive>.LOG1/.LOG2)', collect);

  common(hive.command('get <hive> [keypath] [value]'))
    .description('show a key (subkeys and values) or one value ("@" is the default value)')
    .action(async (file: string, keypath: string | undefined, value: string | undefined, o: CommonOpts) =>
      runCommand(o, async () => {
        const h = await Hive.open(file, openOpts(o, true));
        const key = h.key(keypath ?? '');
        if (!key) throw hiveError('HIVE_KEY_NOT_FOUND', `No key ${keypath} in ${file}.`, { path: keypath });
        if (value !== undefined) {
          const v = key.value(valueName(value));
          if (!v) throw hiveError('HIVE_VALUE_NOT_FOUND', `No value ${value} in ${key.path || '(root)'}.`, { path: key.path, value });
          printResult(valueJson(v), o, showValue);
          return;
        }
        const out = {
          path: key.path,
          name: key.name,
          lastWritten: key.lastWritten.toISOString(),
          className: key.className,
          subkeys: key.subkeys().map((k) => k.name),
          values: key.values().map(valueJson),
        };
        printResult(out, o, (r) => [`[\\${r.path}]`, ...r.subkeys.map((s) => `  ${s}\\`), ...r.values.map((v) => `  ${showValue(v)}`)].join('\n'));
      }),
    );

  common(hive.command('set <hive> <keypath> <value>'))
    .description('create or replace a value (creates missing keys); "@" is the default value')
    .requiredOption('--type <type>', 'REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ, REG_DWORD, REG_DWORD_BIG_ENDIAN, REG_QWORD, REG_BINARY, REG_NONE, REG_LINK, … or a number')
    .option('--data <data>', 'the data (repeat for REG_MULTI_SZ; numbers for DWORD/QWORD; hex for binary types)', collect, [])
    .option('--hex', 'give the raw bytes in hex for any type')
    .option('--output <file>', 'write the result to another file instead of in place')
    .option('--no-backup', 'do not keep <hive>.ce-backup')
    .action(async (file: string, keypath: string, value: string, o: CommonOpts & { type: string; data: string[]; hex?: boolean; output?: string; backup: boolean }) =>
      runCommand(o, async () => {
        const h = await Hive.open(file, openOpts(o, false));
        const type = parseTypeName(o.type);
        const key = h.ensureKey(keypath);
        key.setValue(valueName(value), type, parseData(type, o.data, Boolean(o.hex)));
        const saved = await h.save({ path: o.output, noBackup: !o.backup });
        const v = key.value(valueName(value))!;
        printResult({ ...saved, key: key.path, value: valueJson(v) }, o, (r) => `set ${r.key}\\${showValue(r.value)} in ${r.path}${r.backup ? ` (backup ${r.backup})` : ''}`);
      }),
    );

  common(hive.command('delete <hive> <keypath> [value]'))
    .description('delete a value, or (without a value name) a key and everything below it')
    .option('--output <file>', 'write the result to another file instead of in place')
    .option('--no-backup', 'do not keep <hive>.ce-backup')
    .action(async (file: string, keypath: string, value: string | undefined, o: CommonOpts & { output?: string; backup: boolean }) =>
      runCommand(o, async () => {
        const h = await Hive.open(file, openOpts(o, false));
        const parts = keypath.split('\\').filter(Boolean);
        let deleted: boolean;
        if (value !== undefined) {
          const key = h.key(keypath);
          if (!key) throw hiveError('HIVE_KEY_NOT_FOUND', `No key ${keypath} in ${file}.`, { path: keypath });
          deleted = key.deleteValue(valueName(value));
          if (!deleted) throw hiveError('HIVE_VALUE_NOT_FOUND', `No value ${value} in ${key.path}.`, { path: key.path, value });
        } else {
          if (!parts.length) throw hiveError('HIVE_BAD_NAME', 'The root key cannot be deleted.', {});
          deleted = h.root.deleteKey(parts.join('\\'));
          if (!deleted) throw hiveError('HIVE_KEY_NOT_FOUND', `No key ${keypath} in ${file}.`, { path: keypath });
        }
        const saved = await h.save({ path: o.output, noBackup: !o.backup });
        printResult({ ...saved, deleted: value !== undefined ? { key: keypath, value } : { key: keypath } }, o, (r) => `deleted ${keypath}${value !== undefined ? ` value ${value}` : ''} in ${r.path}`);
      }),
    );

  common(hive.command('export <hive>'))
    .description('the whole tree, depth-first, subkeys sorted, values in stored order')
    .action(async (file: string, o: CommonOpts) =>
      runCommand(o, async () => {
        const h = await Hive.open(file, openOpts(o, true));
        // streamed key by key: a 100+ MiB SOFTWARE hive must not become one giant string
        const head = { file: h.path, version: `${h.base.major}.${h.base.minor}`, dirty: h.dirty, replayedLog: h.replayedLog };
        if (o.json) await writeOut(JSON.stringify(head).slice(0, -1) + ',"keys":[\n');
        let first = true;
        for (const k of iterateKeys(h)) {
          if (o.json) await writeOut((first ? '' : ',\n') + JSON.stringify(k, bigintReplacer));
          else await writeOut(humanKey(k) + '\n');
          first = false;
        }
        await writeOut(o.json ? '\n]}\n' : '', true);
      }),
    );

  common(hive.command('check <hive>'))
    .description('verify the whole hive (cells, lists, values); exit 3 when it has errors')
    .action(async (file: string, o: CommonOpts) =>
      runCommand(o, async () => {
        const h = await Hive.open(file, openOpts(o, true));
        const rep = checkHive(h);
        if (h.logsAhead) rep.warnings.unshift({ code: 'HIVE_LOGS_AHEAD', message: 'The hive is clean but its logs hold newer entries; like Windows, they were ignored.' });
        if (h.acceptedDirty) rep.warnings.unshift({ code: 'HIVE_DIRTY_ACCEPTED', message: 'The hive is dirty and was read without its logs: recent changes may be missing.' });
        const out = { file: h.path, version: `${h.base.major}.${h.base.minor}`, dirty: h.dirty, replayedLog: h.replayedLog, ...rep };
        printResult(out, o, (r) =>
          [
            `${r.file}: regf ${r.version}, ${r.keys} keys, ${r.values} values, ${r.ok ? 'OK' : `${r.errors.length} errors`}${r.dirty ? ` (was dirty; ${r.replayedLog.length ? 'logs replayed' : 'accepted as is'})` : ''}`,
            ...r.errors.map((e) => `  error ${e.code}: ${e.message}${e.path !== undefined ? ` [${e.path}]` : ''}`),
            ...r.warnings.slice(0, 50).map((e) => `  warning ${e.code}: ${e.message}${e.path !== undefined ? ` [${e.path}]` : ''}`),
          ].join('\n'),
        );
        if (!rep.ok) process.exitCode = EXIT.PROBLEMS;
      }),
    );
}
