/**
 * `ce smb ls|put|get|df|rm|backends`: the SMB client from the command line. Passwords come from
 * CE_SMB_PASSWORD or --credentials-file (mode 0600), never from arguments.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { runCommand, printResult, createCliProgress, formatBytes } from '../../core/cli-kit.js';
import { ProgressMeter } from '../../core/progress.js';
import { CeError } from '../../core/errors.js';
import { connectSmb, openRead, openWrite, type SmbConnectOptions } from './api.js';
import { detectCifsBackend } from './cifs.js';
import { Dialect } from './packets/constants.js';
import { putFile, getFile } from './transfer.js';

interface CommonOpts {
  json?: boolean;
  credentialsFile?: string;
  sign?: boolean;
  encrypt?: boolean;
  allowGuest?: boolean;
  dialect?: string;
  ioSize?: string;
}

const DIALECTS: Record<string, number> = { '2.1': Dialect.SMB2_1, '3.0': Dialect.SMB3_0, '3.0.2': Dialect.SMB3_0_2, '3.1.1': Dialect.SMB3_1_1 };

function common(cmd: Command): Command {
  return cmd
    .option('--json', 'JSON output')
    .option('--credentials-file <path>', 'file with username=, password=, domain= lines (mode 0600); else the password comes from CE_SMB_PASSWORD')
    .option('--sign', 'sign every message even if the server does not require it')
    .option('--encrypt', 'encrypt every message (SMB 3.x)')
    .option('--allow-guest', 'accept a guest/anonymous session (refused by default)')
    .addOption(new Option('--dialect <d>', 'offer only this dialect').choices(Object.keys(DIALECTS)))
    .option('--io-size <MiB>', 'bytes per READ/WRITE request in MiB (default 8 = the usual negotiated max; 4 on encrypted sessions)');
}

function connectOpts(o: CommonOpts): SmbConnectOptions {
  const out: SmbConnectOptions = { credentialsFile: o.credentialsFile, sign: o.sign, encrypt: o.encrypt, allowGuest: o.allowGuest };
  if (o.dialect) out.dialects = [DIALECTS[o.dialect]!];
  if (o.ioSize !== undefined) {
    const mib = Number(o.ioSize);
    if (!(mib > 0 && mib <= 8)) throw new CeError('SMB_BAD_OPTION', `--io-size must be between 0 and 8 MiB, got ${o.ioSize}.`, { status: 400 });
    out.ioSize = Math.round(mib * 1024 * 1024);
  }
  return out;
}

export function registerCommands(program: Command): void {
  const smb = program.command('smb').description('SMB 2.1/3.x client: list, copy to/from, free space and delete on a share (smb://[domain;]user@server[:port]/share/path)');

  common(smb.command('ls').argument('<url>', 'smb://[domain;]user@server/share[/dir]').description('list a directory (or show one file)')).action(
    async (url: string, o: CommonOpts) =>
      runCommand(o, async () => {
        const { client, url: u } = await connectSmb(url, connectOpts(o));
        try {
          const st = u.path ? await client.stat(u.path) : { isDirectory: true, size: 0, mtime: 0 };
          if (!st) throw new CeError('SMB_NOT_FOUND', `${u.display} does not exist.`, { hint: 'Check the path.', status: 404 });
          const entries = st.isDirectory
            ? (await client.list(u.path)).sort((a, b) => a.name.localeCompare(b.name)).map((e) => ({ name: e.name, type: e.isDirectory ? 'dir' : 'file', size: e.size, mtime: new Date(e.mtime).toISOString() }))
            : [{ name: u.path.split('\\').pop()!, type: 'file', size: st.size, mtime: new Date(st.mtime).toISOString() }];
          printResult({ url: u.display, dialect: client.dialect, entries }, o, (v) =>
            v.entries.map((e) => `${e.type === 'dir' ? 'd' : '-'} ${String(e.size).padStart(14)}  ${e.mtime}  ${e.name}${e.type === 'dir' ? '/' : ''}`).join('\n') || '(empty)',
          );
        } finally {
          await client.disconnect();
        }
      }),
  );

  common(smb.command('df').argument('<url>', 'smb://[domain;]user@server/share').description('free and total space of a share')).action(async (url: string, o: CommonOpts) =>
    runCommand(o, async () => {
      const { client, url: u } = await connectSmb(url, connectOpts(o));
      try {
        const fs = await client.fsSize();
        const r = {
          share: `//${u.host}/${u.share}`,
          totalBytes: fs.totalBytes,
          freeBytes: fs.callerAvailableBytes,
          usedBytes: fs.totalBytes - fs.actualAvailableBytes,
          dialect: client.dialect,
          signing: client.info.signing,
          encryption: client.info.encryption,
        };
        printResult(r, o, (v) => `${v.share}: ${formatBytes(v.freeBytes)} free of ${formatBytes(v.totalBytes)} (SMB ${v.dialect}${v.encryption ? `, ${v.encryption}` : v.signing ? `, signed ${v.signing}` : ''})`);
      } finally {
        await client.disconnect();
      }
    }),
  );

  common(smb.command('rm').argument('<url>', 'smb://…/share/path/file').description('delete a file')).action(async (url: string, o: CommonOpts) =>
    runCommand(o, async () => {
      const { client, url: u } = await connectSmb(url, connectOpts(o));
      try {
        if (!u.path) throw new CeError('SMB_BAD_URL', 'Give a file, not a share.', { status: 400 });
        await client.deleteFile(u.path);
        printResult({ deleted: u.display }, o, (v) => `deleted ${v.deleted}`);
      } finally {
        await client.disconnect();
      }
    }),
  );

  common(
    smb
      .command('put')
      .argument('<local>', 'local file')
      .argument('<url>', 'smb://…/share/path/file')
      .description('copy a local file to the share (atomically via <file>.partial; checks 2× free space)')
      .option('--overwrite', 'replace an existing file')
      .option('--verify', 'read the file back and compare before the final rename'),
  ).action(async (local: string, url: string, o: CommonOpts & { overwrite?: boolean; verify?: boolean }) =>
    runCommand(o, async () => {
      const progress = createCliProgress({ json: o.json, label: 'put' });
      const ac = new AbortController();
      const onSig = () => ac.abort();
      process.once('SIGINT', onSig);
      try {
        const meter = new ProgressMeter(progress.update, undefined, 'upload');
        const r = await putFile(local, url, { ...connectOpts(o), overwrite: o.overwrite, verify: o.verify, signal: ac.signal, onProgress: (done, total) => {
          meter.bytesTotal = total;
          meter.set(done);
        } }, openWrite);
        meter.flush();
        progress.stop();
        printResult(r, o, (v) => `${v.url}: ${formatBytes(v.size)} in ${v.seconds.toFixed(1)} s (${formatBytes(v.bytesPerSecond)}/s)${v.verified ? ', verified' : ''}`);
      } finally {
        progress.stop();
        process.off('SIGINT', onSig);
      }
    }),
  );

  common(
    smb
      .command('get')
      .argument('<url>', 'smb://…/share/path/file')
      .argument('<local>', 'local file')
      .description('copy a file from the share (to <local>.partial, then renamed)')
      .option('--overwrite', 'replace an existing local file'),
  ).action(async (url: string, local: string, o: CommonOpts & { overwrite?: boolean }) =>
    runCommand(o, async () => {
      const progress = createCliProgress({ json: o.json, label: 'get' });
      try {
        const meter = new ProgressMeter(progress.update, undefined, 'download');
        const r = await getFile(url, local, { ...connectOpts(o), overwrite: o.overwrite, onProgress: (done, total) => {
          meter.bytesTotal = total;
          meter.set(done);
        } }, openRead);
        meter.flush();
        progress.stop();
        printResult(r, o, (v) => `${v.path}: ${formatBytes(v.size)} in ${v.seconds.toFixed(1)} s (${formatBytes(v.bytesPerSecond)}/s)`);
      } finally {
        progress.stop();
      }
    }),
  );

  smb
    .command('backends')
    .description('which SMB backends work here (built-in client; kernel CIFS mount)')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }) =>
      runCommand(o, async () => {
        const cifs = await detectCifsBackend();
        const { nativeAeadStatus } = await import('./native-aead.js');
        printResult({ builtin: { available: true, dialects: Object.keys(DIALECTS), aesGcm: nativeAeadStatus() }, cifs }, o, (v) =>
          [`built-in client: available (SMB ${v.builtin.dialects.join(', ')}; AES-GCM: ${v.builtin.aesGcm})`, `kernel CIFS: ${v.cifs.available ? 'available (not used by the CE)' : `unavailable: ${v.cifs.reason}`}`].join('\n'),
        );
      }),
    );
}
