/**
 * Two network namespaces joined by a veth pair, created by a test and deleted in teardown:
 * `ce` (the CE host, 10.77.X.1) and `peer` (the connector / SMB server, 10.77.X.2).
 * Sockets run inside with probe.mjs through `ip netns exec`.
 */
import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';
import type { Teardownable } from '../helpers/tmp.js';

const PROBE = fileURLToPath(new URL('./probe.mjs', import.meta.url));

export interface NsPair {
  ce: string;
  peer: string;
  ceAddr: string;
  peerAddr: string;
  /** Start listeners in a namespace; resolves when they listen; killed in teardown. */
  listen(ns: string, ports: number[]): Promise<void>;
  /** connected | refused | timeout | error:… from inside `ns`, optionally as another uid. */
  connect(ns: string, host: string, port: number, opts?: { ms?: number; uid?: number }): Promise<string>;
  ip(ns: string, args: string[]): Promise<void>;
}

export async function createNsPair(t: Teardownable & { teardown(fn: () => unknown): void }): Promise<NsPair> {
  const id = `${process.pid % 100000}${Math.floor(Math.random() * 1000)}`;
  const ce = `ce-iso-${id}-ce`;
  const peer = `ce-iso-${id}-peer`;
  const net = 10 + (process.pid % 200);
  const ceAddr = `10.77.${net}.1`;
  const peerAddr = `10.77.${net}.2`;
  const children: ResultPromise[] = [];
  t.teardown(async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.allSettled(children);
    await execa('ip', ['netns', 'del', ce], { reject: false });
    await execa('ip', ['netns', 'del', peer], { reject: false });
  });
  const ip = async (ns: string, args: string[]) => {
    await execa('ip', ['-n', ns, ...args]);
  };
  await execa('ip', ['netns', 'add', ce]);
  await execa('ip', ['netns', 'add', peer]);
  await ip(ce, ['link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth0', 'netns', peer]);
  for (const [ns, addr] of [[ce, ceAddr], [peer, peerAddr]] as const) {
    await ip(ns, ['addr', 'add', `${addr}/24`, 'dev', 'veth0']);
    await ip(ns, ['link', 'set', 'veth0', 'up']);
    await ip(ns, ['link', 'set', 'lo', 'up']);
  }
  return {
    ce,
    peer,
    ceAddr,
    peerAddr,
    ip,
    async listen(ns, ports) {
      const child = execa('ip', ['netns', 'exec', ns, process.execPath, PROBE, 'listen', ...ports.map(String)], { reject: false });
      children.push(child);
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('ready')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`listener in ${ns} exited (${code}) before listening`)));
      });
    },
    async connect(ns, host, port, opts = {}) {
      const asUser = opts.uid !== undefined ? ['setpriv', `--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups'] : [];
      const r = await execa('ip', ['netns', 'exec', ns, ...asUser, process.execPath, PROBE, 'connect', host, String(port), String(opts.ms ?? 600)]);
      return r.stdout.trim();
    },
  };
}
