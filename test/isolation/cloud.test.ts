/** The Azure NSG, AWS security group and GCP firewall JSON allow exactly the nftables policy's flows. */
import t from 'tap';
import { buildPolicy, flowSummary, type PolicyOptions } from '../../network/isolation/policy.js';
import { awsSecurityGroup, azureNsg, gcpFirewallRules, GCP_NETWORK_TAG } from '../../network/isolation/cloud.js';
import { nftRuleset } from '../../network/isolation/nft.js';
import { awsFlows, azureFlows, gcpFlows } from './flows.js';
import { runCe, json } from '../helpers/cli.js';

const cases: Array<[string, PolicyOptions]> = [
  ['default (443 in, 445 out, any peer)', {}],
  ['restricted peers, mixed families, DNS', { connectorCidrs: ['10.1.0.0/24', 'fd00:1::/64'], smbCidrs: ['192.168.5.10/32'], dnsServers: ['10.0.0.2', 'fd00::53'] }],
  ['other HTTPS port, no DHCP', { httpsPort: 8443, dhcp: false, platformEndpoints: false }],
];

for (const [name, opts] of cases) {
  t.test(name, async (t) => {
    const policy = buildPolicy(opts);
    const want = flowSummary(policy.rules);
    t.ok(want.some((f) => f.startsWith(`inbound tcp ${opts.httpsPort ?? 443} `)), 'HTTPS in is in the policy');
    t.ok(want.some((f) => f.startsWith('outbound tcp 445 ')), 'SMB out is in the policy');

    const nsg = azureNsg(policy);
    t.same(azureFlows(nsg), want, 'Azure NSG allows the same flows');
    const rules = nsg.properties.securityRules.map((r) => r.properties);
    const maxAllow = Math.max(...rules.filter((r) => r.access === 'Allow').map((r) => r.priority));
    for (const direction of ['Inbound', 'Outbound']) {
      const deny = rules.find((r) => r.access === 'Deny' && r.direction === direction && r.protocol === '*' && r.destinationPortRange === '*');
      t.ok(deny && deny.priority > maxAllow && deny.priority <= 4096, `Azure: deny-all ${direction} after the allows, within custom priorities`);
    }
    t.equal(new Set(rules.map((r) => `${r.direction}/${r.priority}`)).size, rules.length, 'Azure priorities are unique per direction');

    const sg = awsSecurityGroup(policy);
    t.same(awsFlows(sg), want, 'AWS security group allows the same flows');
    t.ok(sg.Properties.SecurityGroupEgress.length > 0, 'AWS egress list is explicit (an empty one keeps allow-all)');
    for (const r of [...sg.Properties.SecurityGroupIngress, ...sg.Properties.SecurityGroupEgress]) {
      t.ok((r.CidrIp ?? r.CidrIpv6 ?? '').includes('/'), 'AWS wants CIDR notation');
    }

    const fw = gcpFirewallRules(policy);
    t.same(gcpFlows(fw), want, 'GCP firewall rules allow the same flows');
    t.ok(fw.every((r) => r.targetTags.length === 1 && r.targetTags[0] === GCP_NETWORK_TAG), 'every GCP rule targets the compositing-engine tag');
    for (const dir of ['INGRESS', 'EGRESS'] as const) {
      const denies = fw.filter((r) => r.direction === dir && r.denied?.[0]?.IPProtocol === 'all');
      t.equal(denies.length, 2, `GCP: deny-all ${dir} for IPv4 and IPv6`);
      t.ok(denies.every((d) => fw.filter((r) => r.allowed && r.direction === dir).every((a) => a.priority < d.priority)), 'GCP allows win over the deny-alls');
    }
    for (const r of fw) {
      const ranges = r.sourceRanges ?? r.destinationRanges ?? [];
      t.ok(ranges.every((x) => x.includes(':')) || ranges.every((x) => !x.includes(':')), `GCP rule ${r.name} holds one IP family`);
      t.match(r.name, /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/, 'GCP name is valid');
    }

    const nft = nftRuleset(policy);
    t.match(nft, /hook input priority filter; policy drop;/);
    t.match(nft, /hook output priority filter; policy drop;/);
    t.equal(/udp dport 68/.test(nft), policy.dhcp, 'DHCP as configured');
  });
}

t.test('bad input is a typed error', async (t) => {
  t.throws(() => buildPolicy({ dnsServers: ['not-an-ip'] }), { code: 'ISOLATION_BAD_ADDRESS' });
  t.throws(() => buildPolicy({ connectorCidrs: ['10.0.0.0/33'] }), { code: 'ISOLATION_BAD_ADDRESS' });
  t.throws(() => buildPolicy({ httpsPort: 70000 }), { code: 'ISOLATION_BAD_PORT' });
  t.throws(() => nftRuleset(buildPolicy(), 'x; flush ruleset'), { code: 'ISOLATION_BAD_TABLE' });
});

t.test('ce isolation rules CLI', async (t) => {
  const all = await runCe(['isolation', 'rules', '--dns', '10.0.0.2']);
  t.equal(all.exitCode, 0, all.stderr);
  const doc = json<{ policy: { flows: string[] }; azure: Parameters<typeof azureFlows>[0]; aws: Parameters<typeof awsFlows>[0]; gcp: { networkTag: string; firewalls: Parameters<typeof gcpFlows>[0] }; nft: string }>(all);
  t.same(azureFlows(doc.azure), doc.policy.flows);
  t.same(awsFlows(doc.aws), doc.policy.flows);
  t.same(gcpFlows(doc.gcp.firewalls), doc.policy.flows);
  t.equal(doc.gcp.networkTag, 'compositing-engine');
  t.match(doc.nft, /ip daddr \{ 10\.0\.0\.2 \} udp dport 53 accept/);

  const nft = await runCe(['isolation', 'rules', '--format', 'nft']);
  t.equal(nft.exitCode, 0);
  t.match(nft.stdout, /^# Compositing Engine network isolation/);
  t.match(nft.stdout, /tcp dport 443 accept/);

  const bad = await runCe(['isolation', 'rules', '--format', 'bogus', '--json']);
  t.equal(bad.exitCode, 1);
  t.equal(json<{ error: { code: string } }>(bad).error.code, 'ISOLATION_BAD_FORMAT');
});
