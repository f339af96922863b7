/**
 * `ce info | convert | check | compare`: the disk engine on the command line.
 * Exit codes (core/cli-kit.ts): 0 ok, 1 typed error, 3 problems found / images differ, 130 cancelled.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { CeError } from '../core/errors.js';
import { EXIT, createCliProgress, formatBytes, printResult, runCommand } from '../core/cli-kit.js';
import type { FormatName } from './types.js';
import type { ImageInfo } from './describe.js';
import type { ConvertResult } from './convert/engine.js';
import type { HashAlgo } from './convert/hash-sink.js';

// The engine is imported inside each action: `ce --help` and other domains' commands stay fast.
// These lists are checked against the registry in test/disk/cli.test.ts.
export const FORMATS = ['raw', 'vhd', 'vhdx', 'vmdk', 'qcow2'];
export const TARGETS = ['vhdx', 'vhdx-fixed', 'vmdk', 'vmdk-stream', 'vmdk-flat', 'qcow2', 'vhd', 'vhd-fixed', 'raw'];
export const PRESETS = ['azure', 'hyperv', 'vsphere', 'aws', 'gcp', 'xenserver', 'nutanix'];
const HASH_ALGOS = ['md5', 'sha256'];

function parseHash(v: string | undefined): HashAlgo[] | undefined {
  if (!v) return undefined;
  const list = v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const a of list) {
    if (!HASH_ALGOS.includes(a)) throw new CeError('DISK_HASH_UNKNOWN', `Unknown hash ${a}.`, { hint: `Use ${HASH_ALGOS.join(', ')}.`, status: 400 });
  }
  return list as HashAlgo[];
}

function humanInfo(i: ImageInfo): string {
  const lines = [
    `image:           ${i.path}`,
    `format:          ${i.format} (${i.subformat})`,
    `virtual size:    ${formatBytes(i.virtualSize)} (${i.virtualSize} bytes)`,
    `file size:       ${formatBytes(i.fileSize)} (${i.fileSize} bytes)`,
    `block size:      ${formatBytes(i.blockSize)}`,
  ];
  if (i.allocatedBytes !== undefined) lines.push(`allocated:       ${formatBytes(i.allocatedBytes)}`);
  if (i.parentChain?.length) lines.push(`parents:         ${i.parentChain.join(' -> ')}`);
  if (i.dirtyLog !== undefined) lines.push(`dirty log:       ${i.dirtyLog ? 'yes (replayed in memory)' : 'no'}`);
  for (const [k, v] of Object.entries(i.extra ?? {})) lines.push(`${(k + ':').padEnd(17)}${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  lines.push(i.problems.length ? `problems:\n${i.problems.map((p) => `  ${p.severity} ${p.code}: ${p.message}`).join('\n')}` : 'problems:        none');
  return lines.join('\n');
}

function humanConvert(r: ConvertResult): string {
  const lines = [`${r.source.path} (${r.source.format} ${r.source.subformat}) -> ${r.output.path} (${r.output.target}, ${formatBytes(r.output.fileSize)}) in ${r.seconds}s`];
  for (const n of r.notes) lines.push(`note: ${n}`);
  if (r.resumedFrom) lines.push(`resumed from virtual offset ${r.resumedFrom}`);
  for (const [a, h] of Object.entries(r.hashes ?? {})) lines.push(`${a}: ${h}`);
  return lines.join('\n');
}

export function registerCommands(program: Command): void {
  const fmt = () => new Option('-f, --format <format>', 'source format (skip detection)').choices(FORMATS);

  program
    .command('info')
    .description('describe an image: format, subformat, sizes, allocation, parent chain, problems')
    .argument('<image>', 'image file or block device')
    .addOption(fmt())
    .option('--json', 'JSON output')
    .action(async (image: string, o: { json?: boolean; format?: FormatName }) =>
      runCommand(o, async () => {
        const { describeImage } = await import('./describe.js');
        printResult(await describeImage(image, { format: o.format }), o, humanInfo);
      }),
    );

  program
    .command('check')
    .description('validate an image structurally (checksums, footer copies, BAT bounds, overlaps); exit 3 on problems')
    .argument('<image>', 'image file')
    .addOption(fmt())
    .option('--json', 'JSON output')
    .action(async (image: string, o: { json?: boolean; format?: FormatName }) =>
      runCommand(o, async () => {
        const { checkImage } = await import('./describe.js');
        const r = await checkImage(image, { format: o.format });
        printResult(r, o, (v) => (v.problems.length ? v.problems.map((p) => `${p.severity} ${p.code}: ${p.message}`).join('\n') : `${v.path}: no problems found`));
        if (!r.ok) process.exitCode = EXIT.PROBLEMS;
      }),
    );

  program
    .command('compare')
    .description('compare the virtual content of two images (any formats); exit 3 when they differ')
    .argument('<a>', 'first image')
    .argument('<b>', 'second image')
    .option('--json', 'JSON output')
    .action(async (a: string, b: string, o: { json?: boolean }) =>
      runCommand(o, async () => {
        const { openDisk } = await import('./open.js');
        const { compareDisks } = await import('./compare.js');
        const da = await openDisk(a);
        try {
          const db = await openDisk(b);
          try {
            const r = await compareDisks(da, db);
            printResult(r, o, (v) => (v.identical ? 'Images are identical.' : v.firstDifference !== undefined ? `Content mismatch at offset ${v.firstDifference}.` : 'Images differ.'));
            if (!r.identical) process.exitCode = EXIT.PROBLEMS;
          } finally {
            await db.close();
          }
        } finally {
          await da.close();
        }
      }),
    );

  program
    .command('convert')
    .description('convert an image to another format (output written to <dst>.partial, renamed at the end); <dst> "-" streams to stdout')
    .argument('<src>', 'source image, block device or smb://[domain;]user@server[:port]/share/path')
    .argument('<dst>', 'output file, smb://… URL, or - for stdout')
    .addOption(new Option('--to <format>', 'output format').choices(TARGETS))
    .addOption(new Option('--preset <platform>', 'check and shape the output for a platform').choices(PRESETS))
    .addOption(fmt())
    .option('--hash <algos>', 'hash the output while writing: md5,sha256')
    .option('--progress', 'progress bar on stderr (a TTY)')
    .option('--json', 'JSON lines: progress events, then the result')
    .option('--overwrite', 'replace an existing output')
    .option('--resume', 'write resume checkpoints and keep <dst>.partial on failure; run again with --resume to continue from the last one')
    .option('--no-sparse', 'never leave holes in a local output file')
    .option('--no-fsync', 'do not fsync the output before the rename (scratch outputs, benchmarks; like qemu-img -t unsafe)')
    .option('--tar-gz', 'wrap a raw output as disk.raw in a gzip-compressed tar (GCP)')
    .option('--in-flight <n>', 'reads in flight (1-64; default 2 per core, 2-8, for local sources, 8 for SMB)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('must be an integer from 1 to 64.');
      return n;
    })
    .option('--credentials-file <path>', 'smb://: file with username=, password=, domain= (mode 0600); else the password comes from CE_SMB_PASSWORD')
    .option('--sign', 'smb://: sign every message even if the server does not require it')
    .option('--encrypt', 'smb://: encrypt every message (SMB 3.x)')
    .option('--verify', 'smb:// output: read it back and compare before the final rename')
    .action(async (src: string, dst: string, o: { to?: string; preset?: string; format?: FormatName; hash?: string; progress?: boolean; json?: boolean; overwrite?: boolean; resume?: boolean; sparse?: boolean; inFlight?: number; tarGz?: boolean; fsync?: boolean; credentialsFile?: string; sign?: boolean; encrypt?: boolean; verify?: boolean }) =>
      runCommand(o, async () => {
        const { convertToSink } = await import('./convert/engine.js');
        const { convertAny } = await import('./convert/remote.js');
        const { StreamSink } = await import('./io/stream.js');
        const ac = new AbortController();
        const onSig = () => ac.abort();
        process.once('SIGINT', onSig);
        process.once('SIGTERM', onSig);
        const bar = o.progress || o.json ? createCliProgress({ json: o.json, label: 'convert' }) : undefined;
        try {
          const smb = { credentialsFile: o.credentialsFile, sign: o.sign, encrypt: o.encrypt };
          const common = { to: o.to, preset: o.preset, format: o.format, hash: parseHash(o.hash), signal: ac.signal, onProgress: bar?.update, inFlight: o.inFlight, sparse: o.sparse, tarGz: o.tarGz, smb };
          if (dst === '-') {
            const r = await convertToSink(src, new StreamSink('stdout', process.stdout), { ...common, onProgress: undefined });
            process.stderr.write(JSON.stringify(r) + '\n');
            return;
          }
          const r = await convertAny(src, dst, { ...common, overwrite: o.overwrite, resume: o.resume, fsync: o.fsync, verify: o.verify });
          bar?.stop();
          if (o.json) process.stdout.write(JSON.stringify({ event: 'result', ...r }) + '\n');
          else printResult(r, o, humanConvert);
        } finally {
          bar?.stop();
          process.off('SIGINT', onSig);
          process.off('SIGTERM', onSig);
        }
      }),
    );
}
