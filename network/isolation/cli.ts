/**
 * `ce isolation rules|apply|remove|status`: print the isolation policy for nftables, Azure, AWS
 * and GCP; load or unload it on this host (or in a network namespace).
 */
import type { Command } from 'commander';
import { printResult, runCommand } from '../../core/cli-kit.js';
import { CeError } from '../../core/errors.js';
import { buildPolicy, flowSummary, type IsolationPolicy, type PolicyOptions } from './policy.js';
import { nftRuleset } from './nft.js';
import { awsSecurityGroup, azureNsg, gcpFirewallRules, GCP_NETWORK_TAG } from './cloud.js';
import { applyIsolation, isolationStatus, removeIsolation } from './apply.js';

interface PolicyFlags {
  json?: boolean;
  connector?: string;
  smb?: string;
  dns?: string;
  dhcp?: boolean;
  platformEndpoints?: boolean;
  port?: string;
}

const FORMATS = ['all', 'nft', 'azure', 'aws', 'gcp'] as const;
type Format = (typeof FORMATS)[number];

const list = (v: string | undefined) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

export function policyFromFlags(f: PolicyFlags): IsolationPolicy {
  const opts: PolicyOptions = {
    connectorCidrs: list(f.connector),
    smbCidrs: list(f.smb),
    dnsServers: list(f.dns),
    dhcp: f.dhcp !== false,
    platformEndpoints: f.platformEndpoints !== false,
  };
  if (f.port !== undefined) opts.httpsPort = Number(f.port);
  return buildPolicy(opts);
}

/** Every representation of one policy, as one JSON document. */
export function allFormats(policy: IsolationPolicy, gcpNetwork = 'default') {
  return {
    policy: { ...policy, flows: flowSummary(policy.rules) },
    nft: nftRuleset(policy),
    azure: azureNsg(policy),
    aws: awsSecurityGroup(policy),
    gcp: { networkTag: GCP_NETWORK_TAG, firewalls: gcpFirewallRules(policy, gcpNetwork) },
  };
}

function policyOptions(cmd: Command): Command {
  return cmd
    .option('--connector <cidrs>', 'comma-separated CIDRs the connector connects from (default any)')
    .option('--smb <cidrs>', 'comma-separated CIDRs of the SMB shares (default any)')
    .option('--dns <ips>', 'comma-separated DNS servers to allow (default none)')
    .option('--no-dhcp', 'do not allow DHCP')
    .option('--no-platform-endpoints', 'do not allow root to reach 169.254.169.254 / 168.63.129.16')
    .option('--port <n>', 'HTTPS port of the CE (default 443)')
    .option('--json', 'JSON output');
}

export function registerCommands(program: Command): void {
  const iso = program.command('isolation').description('network isolation of the CE: 443 in, 445 out, nothing else');

  policyOptions(
    iso
      .command('rules')
      .description('print the isolation rules (nftables script, Azure NSG, AWS security group, GCP firewall rules)')
      .option('--format <f>', `one of ${FORMATS.join(', ')}`, 'all')
      .option('--gcp-network <name>', 'VPC network of the GCP rules', 'default'),
  ).action(async (f: PolicyFlags & { format: string; gcpNetwork: string }) =>
    runCommand(f, async () => {
      if (!FORMATS.includes(f.format as Format)) {
        throw new CeError('ISOLATION_BAD_FORMAT', `Unknown format ${f.format}.`, { hint: `Use one of ${FORMATS.join(', ')}.` });
      }
      const doc = allFormats(policyFromFlags(f), f.gcpNetwork);
      const format = f.format as Format;
      if (format === 'nft') {
        if (f.json) printResult({ format: 'nft', ruleset: doc.nft }, f, () => '');
        else process.stdout.write(doc.nft);
        return;
      }
      // The cloud formats are JSON documents in any case.
      const value = format === 'all' ? doc : doc[format];
      printResult(value, { json: true }, () => '');
    }),
  );

  policyOptions(iso.command('apply').description('load the rules with nft (root or CAP_NET_ADMIN)').option('--netns <name>', 'network namespace (ip netns)')).action(
    async (f: PolicyFlags & { netns?: string }) =>
      runCommand(f, async () => {
        const r = await applyIsolation(policyFromFlags(f), { netns: f.netns });
        printResult({ applied: true, table: r.table, netns: r.netns ?? null }, f, (v) => `isolation applied (table inet ${v.table}${v.netns ? ` in ${v.netns}` : ''})`);
      }),
  );

  iso
    .command('remove')
    .description('unload the rules')
    .option('--netns <name>', 'network namespace (ip netns)')
    .option('--json', 'JSON output')
    .action(async (f: { json?: boolean; netns?: string }) =>
      runCommand(f, async () => {
        await removeIsolation({ netns: f.netns });
        printResult({ removed: true, netns: f.netns ?? null }, f, () => 'isolation removed');
      }),
    );

  iso
    .command('status')
    .description('whether the rules are loaded (active, absent, or unknown without CAP_NET_ADMIN)')
    .option('--netns <name>', 'network namespace (ip netns)')
    .option('--json', 'JSON output')
    .action(async (f: { json?: boolean; netns?: string }) =>
      runCommand(f, async () => {
        const status = await isolationStatus({ netns: f.netns });
        printResult({ status }, f, (v) => `isolation ${v.status}`);
      }),
    );
}
