/**
 * A real Samba server for tests: `smbd --foreground` on 127.0.0.1 and a free unprivileged port,
 * with its config, state, passdb and shares in a temp dir; users added with smbpasswd.
 * Stopped (with its per-connection children) in teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile, readdir, readFile, chmod } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { tempDir, type Teardownable } from './tmp.js';

export interface ShareConfig {
  name: string;
  readOnly?: boolean;
  /** Extra `key = value` lines for the share section. */
  extra?: Record<string, string>;
  /** Fake free space via a `dfree command` (KiB). */
  dfree?: { totalKiB: number; freeKiB: number };
}

export interface SambaOptions {
  shares?: ShareConfig[];
  /** Extra global `key = value` lines (server signing, server smb encrypt, server max protocol…). */
  global?: Record<string, string>;
  user?: string;
  password?: string;
}

export interface Samba {
  port: number;
  dir: string;
  user: string;
  password: string;
  /** Path of a share's directory on disk. */
  sharePath(name: string): string;
  url(share: string, path?: string): string;
  /** Kill smbd and all its connection children (SIGKILL): a connection cut. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  conf: string;
  /** Run smbclient against a share (credentials through an auth file, not the command line). */
  smbclient(share: string, command: string, extra?: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  /** A mount.cifs-style credentials file (mode 0600) for the test user. */
  credentialsFile: string;
  /** smbclient's -A authentication file for the test user. */
  authFile: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Processes of process group `pgid` that still run (zombies write nothing and are left to init). */
async function liveInGroup(pgid: number): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = await readFile(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // state, ppid, pgrp, …
      if (Number(f[2]) === pgid && f[0] !== 'Z') out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

async function waitListening(port: number, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`smbd did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startSamba(t: Teardownable, opts: SambaOptions = {}): Promise<Samba> {
  const dir = await tempDir(t, 'ce-samba-');
  const port = await freePort();
  const user = opts.user ?? 'root';
  const password = opts.password ?? 'Sm8-test-pass';
  const shares = opts.shares ?? [{ name: 'share' }];
  for (const d of ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc', 'binddns']) await mkdir(join(dir, d), { recursive: true });
  const lines = [
    '[global]',
    'server role = standalone server',
    'interfaces = 127.0.0.1',
    'bind interfaces only = yes',
    `smb ports = ${port}`,
    'disable netbios = yes',
    `private dir = ${dir}/private`,
    `lock directory = ${dir}/lock`,
    `state directory = ${dir}/state`,
    `cache directory = ${dir}/cache`,
    `pid directory = ${dir}/pid`,
    `ncalrpc dir = ${dir}/ncalrpc`,
    `binddns dir = ${dir}/binddns`,
    `passdb backend = tdbsam:${dir}/private/passdb.tdb`,
    `log file = ${dir}/log.smbd`,
    'log level = 1',
    'server min protocol = SMB2_10',
    'map to guest = never',
    'load printers = no',
    'printing = bsd',
    'printcap name = /dev/null',
    'disable spoolss = yes',
    'registry shares = no',
    'usershare max shares = 0',
    'smb2 leases = no',
    ...Object.entries(opts.global ?? {}).map(([k, v]) => `${k} = ${v}`),
  ];
  for (const s of shares) {
    const p = join(dir, 'shares', s.name);
    await mkdir(p, { recursive: true });
    lines.push(`[${s.name}]`, `path = ${p}`, `read only = ${s.readOnly ? 'yes' : 'no'}`);
    if (s.dfree) {
      const script = join(dir, `dfree-${s.name}.sh`);
      await writeFile(script, `#!/bin/sh\necho ${s.dfree.totalKiB} ${s.dfree.freeKiB}\n`);
      await chmod(script, 0o755);
      lines.push(`dfree command = ${script}`, 'dfree cache time = 0');
    }
    for (const [k, v] of Object.entries(s.extra ?? {})) lines.push(`${k} = ${v}`);
  }
  const conf = join(dir, 'smb.conf');
  await writeFile(conf, lines.join('\n') + '\n');
  await execa('smbpasswd', ['-c', conf, '-a', '-s', user], { input: `${password}\n${password}\n` });

  const credentialsFile = join(dir, 'credentials');
  await writeFile(credentialsFile, `username=${user}\npassword=${password}\n`, { mode: 0o600 });
  const authFile = join(dir, 'smbclient.auth');
  await writeFile(authFile, `username = ${user}\npassword = ${password}\n`, { mode: 0o600 });
  let proc: ChildProcess | undefined;
  const samba: Samba = {
    port,
    dir,
    user,
    password,
    conf,
    credentialsFile,
    authFile,
    sharePath: (name) => join(dir, 'shares', name),
    async smbclient(share, command, extra = []) {
      const r = await execa('smbclient', [`//127.0.0.1/${share}`, '-p', String(port), '-A', authFile, ...extra, '-c', command], { reject: false });
      return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? -1 };
    },
    url: (share, path = '') => `smb://${user}@127.0.0.1:${port}/${share}${path ? `/${path}` : ''}`,
    async start() {
      // A process group of its own (detached): kill() ends smbd and every child it forked, also
      // one forked while we were killing (listing children first raced with that).
      proc = spawn('smbd', ['--foreground', '--no-process-group', '-s', conf, '--debug-stdout'], { stdio: ['ignore', 'ignore', 'ignore'], detached: true });
      await waitListening(port);
    },
    async kill() {
      if (!proc?.pid) return;
      const pid = proc.pid;
      const exited = proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : new Promise((r) => proc!.once('exit', r));
      const killGroup = () => {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* ESRCH: nobody left in the group */
        }
      };
      killGroup();
      await exited;
      proc = undefined;
      // Until no process of the group runs: a live child could still write into the temp dir
      // (lock/msg.sock) while the teardown removes it.
      for (const end = Date.now() + 5000; (await liveInGroup(pid)).length && Date.now() < end; ) {
        killGroup();
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      await samba.kill();
    },
  };
  await samba.start();
  t.teardown(() => samba.stop());
  return samba;
}
