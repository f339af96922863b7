/**
 * `npm run bench:smb`: 1 GiB (random data) to a local smbd, with signing required and with
 * encryption required: `ce` (the built-in client, in its own process) vs `smbclient -m SMB3 -c put`
 * in the same run, 3 runs each (after one warm-up run of each, not counted). Prints MB/s, the ratio, ce's peak RSS and the CPU seconds of
 * each client and of smbd (the machine's CPUs are shared by all three).
 * Targets: ≥ 1.0× smbclient with signing, ≥ 0.9× with encryption, RSS ≤ 200 MiB.
 * Both rates cover the same span: smbclient's own rate runs from its open of the remote file to
 * its close (connection and session set-up excluded), so ce's runs from its open file (after the
 * free-space check and CREATE of the .partial) to the end of commit() (set size, FLUSH, rename,
 * close, logoff: more round trips than smbclient's close). ce's connection set-up is shown apart.
 * The share and the source live in /dev/shm when it has room (disk noise out of the picture);
 * CE_TEST_TMP overrides. CE_BENCH_SIZE_MIB and CE_BENCH_RUNS shrink it for a quick look;
 * CE_BENCH_IO_MIB and CE_BENCH_INFLIGHT_MIB set ce's request size and write-behind budget.
 * Every run starts after settle() (settle.ts: sync, then host-backed free memory), and ce
 * prints which AES-GCM it used (the native addon or node:crypto; CE_NATIVE_AEAD=off for an A/B).
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { open, readFile, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSamba } from '../helpers/samba.js';
import { settle } from './settle.js';

const MiB = 1024 * 1024;

async function child(url: string, local: string, credentialsFile: string): Promise<void> {
  const { putFile } = await import('../../network/smb/transfer.js');
  const { openWrite } = await import('../../network/smb/api.js');
  const ioSize = process.env.CE_BENCH_IO_MIB ? Number(process.env.CE_BENCH_IO_MIB) * MiB : undefined;
  const inFlightBytes = process.env.CE_BENCH_INFLIGHT_MIB ? Number(process.env.CE_BENCH_INFLIGHT_MIB) * MiB : undefined;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let opened = 0;
  const r = await putFile(local, url, { credentialsFile, overwrite: true, ioSize, inFlightBytes }, async (u, o) => {
    const sink = await openWrite(u, o);
    opened = performance.now();
    return sink;
  });
  const end = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const { nativeAeadStatus } = await import('../../network/smb/native-aead.js');
  const out = { aes: nativeAeadStatus(), seconds: (end - opened) / 1000, connectSeconds: (opened - t0) / 1000, size: r.size, cpu: (cpu.user + cpu.system) / 1e6, maxRssMiB: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(JSON.stringify(out) + '\n');
}

async function main(): Promise<void> {
  const size = Number(process.env.CE_BENCH_SIZE_MIB ?? 1024) * MiB;
  const runs = Number(process.env.CE_BENCH_RUNS ?? 3);
  let base = process.env.CE_TEST_TMP;
  if (!base) {
    const fs = await statfs('/dev/shm').catch(() => undefined);
    base = fs && fs.bavail * fs.bsize > 4 * size ? '/dev/shm' : undefined;
  }
  if (base) process.env.CE_TEST_TMP = base;
  const teardowns: Array<() => unknown> = [];
  const t = { teardown: (f: () => unknown) => void teardowns.push(f) };
  const self = fileURLToPath(import.meta.url);
  let aes = '';
  const rows: Array<{ mode: string; run: number; ce: number; smbclient: number; rss: number; ceCpu: number; scCpu: number; ceSmbd: number; scSmbd: number; connectMs: number }> = [];
  try {
    const modes: Array<{ mode: string; global: Record<string, string>; smbclientArgs: string[] }> = [
      { mode: 'signing required', global: { 'server signing': 'mandatory' }, smbclientArgs: [] },
      { mode: 'encryption required', global: { 'server smb encrypt': 'required' }, smbclientArgs: ['--client-protection=encrypt'] },
    ];
    for (const m of modes) {
      const s = await startSamba(t, { global: m.global });
      const local = join(s.dir, 'source.bin');
      const fh = await open(local, 'w');
      const block = randomBytes(8 * MiB);
      for (let off = 0; off < size; off += block.length) await fh.write(block, 0, Math.min(block.length, size - off), off);
      await fh.close();
      // smbd's CPU for one client: its connection child is reaped by the parent (cutime + cstime).
      const smbdPid = Number((await readFile(join(s.dir, 'pid', 'smbd.pid'), 'utf8')).trim());
      const ticks = async () => {
        const st = await readFile(`/proc/${smbdPid}/stat`, 'utf8');
        const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
        return Number(f[13]) + Number(f[14]); // fields 16, 17: cutime, cstime (clock ticks, 100/s)
      };
      const smbdCpu = async <T>(f: () => Promise<T>): Promise<T & { smbd: number }> => {
        const a = await ticks();
        const r = await f();
        await new Promise((res) => setTimeout(res, 300)); // let smbd reap the connection's child
        return { ...r, smbd: ((await ticks()) - a) / 100 };
      };
      // Run 0 warms both up and is not counted: a fresh smbd's first transfers cost it far more
      // (its first 8 MiB buffers, the share's first tmpfs pages), whichever client comes first.
      for (let run = 0; run <= runs; run++) {
        const ceRun = async () => {
          await settle();
          const r = await execa(process.execPath, ['--import', 'tsx', self, '--child', s.url('share', 'ce.bin'), local, s.credentialsFile], { reject: false });
          if (r.exitCode !== 0) throw new Error(`ce run failed: ${r.stderr || r.stdout}`);
          const j = JSON.parse(String(r.stdout).trim().split('\n').pop()!) as { aes: string; seconds: number; connectSeconds: number; size: number; cpu: number; maxRssMiB: number };
          await rm(join(s.sharePath('share'), 'ce.bin'), { force: true });
          aes = j.aes;
          return { mbps: j.size / 1e6 / j.seconds, rss: j.maxRssMiB, cpu: j.cpu, connectMs: j.connectSeconds * 1000 };
        };
        const smbRun = async () => {
          await settle();
          const t0 = performance.now();
          // Through bash so that `times` reports smbclient's CPU seconds.
          const r = await execa('bash', ['-c', 'smbclient "$@" >/tmp/ce-bench-smbclient.out 2>&1; rc=$?; times; cat /tmp/ce-bench-smbclient.out; exit $rc', 'smbclient', `//127.0.0.1/share`, '-p', String(s.port), '-A', s.authFile, '-m', 'SMB3', ...m.smbclientArgs, '-c', `put ${local} sc.bin`], { reject: false });
          const wall = (performance.now() - t0) / 1000;
          if (r.exitCode !== 0) throw new Error(`smbclient failed: ${r.stderr || r.stdout}`);
          const tm = String(r.stdout).split('\n')[1]!.match(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/)!;
          const scCpu = Number(tm[1]) * 60 + Number(tm[2]) + Number(tm[3]) * 60 + Number(tm[4]);
          // smbclient prints its own transfer rate (KiB/s, startup excluded): use it, it is the fairer number for smbclient.
          const m2 = /\(([\d.]+) kb\/s\)/.exec(r.stdout + r.stderr);
          await rm(join(s.sharePath('share'), 'sc.bin'), { force: true });
          return { mbps: m2 ? (Number(m2[1]) * 1024) / 1e6 : size / 1e6 / wall, cpu: scCpu };
        };
        // Alternate the order so neither always runs on a warm cache.
        let ce: { mbps: number; rss: number; cpu: number; connectMs: number; smbd: number };
        let sc: { mbps: number; cpu: number; smbd: number };
        if (run % 2) {
          ce = await smbdCpu(ceRun);
          sc = await smbdCpu(smbRun);
        } else {
          sc = await smbdCpu(smbRun);
          ce = await smbdCpu(ceRun);
        }
        if (run === 0) continue;
        rows.push({ mode: m.mode, run, ce: ce.mbps, smbclient: sc.mbps, rss: ce.rss, ceCpu: ce.cpu, scCpu: sc.cpu, ceSmbd: ce.smbd, scSmbd: sc.smbd, connectMs: ce.connectMs });
        process.stderr.write(
          `${m.mode} run ${run}: ce ${ce.mbps.toFixed(0)} MB/s (${ce.cpu.toFixed(2)} s CPU, smbd ${ce.smbd.toFixed(2)} s, connect ${ce.connectMs.toFixed(0)} ms), smbclient ${sc.mbps.toFixed(0)} MB/s (${sc.cpu.toFixed(2)} s CPU, smbd ${sc.smbd.toFixed(2)} s), ce RSS ${ce.rss.toFixed(0)} MiB\n`,
        );
      }
      await s.stop();
    }
  } finally {
    for (const f of teardowns.reverse()) await f();
  }
  const pad = (v: string, n: number) => v.padStart(n);
  console.log(`\nload average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')} on ${(await import('node:os')).cpus().length} CPUs (the machine is shared: compare ratios within a run)`);
  console.log(`SMB put of ${size / MiB} MiB to local smbd (share on ${base ?? 'tmpdir'}), ${runs} runs`);
  console.log(`ce's AES-GCM: ${aes}`);
  console.log(`(rates: open → close of the file, as smbclient reports its own; ce's connection set-up apart)`);
  console.log(`${'mode'.padEnd(22)}${pad('run', 4)}${pad('ce MB/s', 10)}${pad('smbclient MB/s', 16)}${pad('ratio', 8)}${pad('ce RSS MiB', 12)}${pad('CPU s ce/smbclient', 20)}${pad('smbd CPU s ce/sc', 18)}${pad('ce connect ms', 15)}`);
  for (const r of rows)
    console.log(
      `${r.mode.padEnd(22)}${pad(String(r.run), 4)}${pad(r.ce.toFixed(0), 10)}${pad(r.smbclient.toFixed(0), 16)}${pad((r.ce / r.smbclient).toFixed(2), 8)}${pad(r.rss.toFixed(0), 12)}${pad(`${r.ceCpu.toFixed(2)}/${r.scCpu.toFixed(2)}`, 20)}${pad(`${r.ceSmbd.toFixed(2)}/${r.scSmbd.toFixed(2)}`, 18)}${pad(r.connectMs.toFixed(0), 15)}`,
    );
  for (const mode of [...new Set(rows.map((r) => r.mode))]) {
    const rs = rows.filter((r) => r.mode === mode);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ce = median(rs.map((r) => r.ce));
    const sc = median(rs.map((r) => r.smbclient));
    const target = mode.startsWith('signing') ? 1.0 : 0.9;
    const rss = Math.max(...rs.map((r) => r.rss));
    const cpu = `${median(rs.map((r) => r.ceCpu)).toFixed(2)}/${median(rs.map((r) => r.scCpu)).toFixed(2)}`;
    const smbd = `${median(rs.map((r) => r.ceSmbd)).toFixed(2)}/${median(rs.map((r) => r.scSmbd)).toFixed(2)}`;
    // Each run's ce and smbclient ran back to back under about the same load: the paired ratio.
    const paired = median(rs.map((r) => r.ce / r.smbclient));
    console.log(
      `${`${mode} (median)`.padEnd(26)}${pad(ce.toFixed(0), 10)}${pad(sc.toFixed(0), 16)}${pad((ce / sc).toFixed(2), 8)}${pad(rss.toFixed(0), 12)}${pad(cpu, 20)}${pad(smbd, 18)}   median of run ratios ${paired.toFixed(2)}; target ≥ ${target.toFixed(1)}× ${ce / sc >= target ? 'met' : 'MISSED'}, RSS ≤ 200 MiB ${rss <= 200 ? 'met' : 'MISSED'}`,
    );
  }
}

if (process.argv[2] === '--child') await child(process.argv[3]!, process.argv[4]!, process.argv[5]!);
else await main();
