/**
 * Load and unload the isolation ruleset with `nft -f` (needs root or CAP_NET_ADMIN in the
 * target network namespace).
 *
 * - In the CE VM the boot unit `ce-isolation.service` loads the same ruleset (generated at
 *   image build into /etc/ce/isolation.nft) before the network comes up.
 * - On a workstation, the prepare job isolates the first boot of a Windows image by running the
 *   guest in its own network namespace and passing `{ netns }`: applying the policy to the host
 *   namespace would cut the workstation itself down to 443 in / 445 out.
 */
import { runTool, type RunResult } from '../../core/tools.js';
import { CeError } from '../../core/errors.js';
import { DEFAULT_TABLE, nftRemoveScript, nftRuleset } from './nft.js';
import type { IsolationPolicy } from './policy.js';

export interface IsolationTarget {
  /** Network namespace name (`ip netns`); default the caller's namespace. */
  netns?: string;
  /** nftables table name (inet family); default `ce_isolation`. */
  table?: string;
}

export interface ApplyResult {
  table: string;
  netns?: string;
  ruleset: string;
}

export async function applyIsolation(policy: IsolationPolicy, target: IsolationTarget = {}): Promise<ApplyResult> {
  const table = target.table ?? DEFAULT_TABLE;
  const ruleset = nftRuleset(policy, table);
  await nft(['-f', '-'], ruleset, target, 'ISOLATION_APPLY_FAILED');
  return { table, netns: target.netns, ruleset };
}

export async function removeIsolation(target: IsolationTarget = {}): Promise<void> {
  await nft(['-f', '-'], nftRemoveScript(target.table ?? DEFAULT_TABLE), target, 'ISOLATION_REMOVE_FAILED');
}

/** Whether the table is loaded; `unknown` when we may not list rules (no CAP_NET_ADMIN, e.g. the `ce` service user). */
export async function isolationStatus(target: IsolationTarget = {}): Promise<'active' | 'absent' | 'unknown'> {
  const r = await nft(['list', 'table', 'inet', target.table ?? DEFAULT_TABLE], undefined, target, 'ISOLATION_STATUS_FAILED', true);
  if (r.exitCode === 0) return 'active';
  return /Operation not permitted|Permission denied/i.test(r.stderr) ? 'unknown' : 'absent';
}

async function nft(args: string[], input: string | undefined, target: IsolationTarget, failCode: string, allowFailure = false): Promise<RunResult> {
  const [tool, argv] = target.netns ? ['ip', ['netns', 'exec', target.netns, 'nft', ...args]] : ['nft', args];
  const r = await runTool(tool, argv, { input, allowFailure: true });
  if (r.exitCode === 0 || allowFailure) return r;
  const denied = /Operation not permitted|Permission denied/i.test(r.stderr);
  throw new CeError(denied ? 'ISOLATION_PERMISSION' : failCode, `nft failed${target.netns ? ` in network namespace ${target.netns}` : ''}: ${r.stderr.split('\n').find((l) => l.trim()) ?? `exit ${r.exitCode}`}`, {
    hint: denied
      ? 'Loading firewall rules needs root or CAP_NET_ADMIN. In the CE VM the boot unit ce-isolation.service loads them.'
      : target.netns
        ? `Check that the namespace exists: ip netns list.`
        : 'Check the nftables kernel support (nft list ruleset).',
    status: 500,
    details: { exitCode: r.exitCode, stderr: r.stderr.slice(-2000) },
  });
}

/**
 * Run `fn` with the isolation loaded and unload it afterwards, also when `fn` throws: what the
 * prepare job wraps around the first boot of a Windows image (in the guest's namespace).
 */
export async function withIsolation<T>(policy: IsolationPolicy, target: IsolationTarget, fn: () => Promise<T>): Promise<T> {
  await applyIsolation(policy, target);
  try {
    return await fn();
  } finally {
    await removeIsolation(target);
  }
}
