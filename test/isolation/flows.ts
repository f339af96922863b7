/**
 * Read back the flows each generated artefact allows, independently of the generators, as
 * "inbound tcp 443 from any" lines (the shape of policy.ts flowSummary), so the test can check
 * that the kernel's nftables ruleset and the three cloud documents say the same thing.
 */
import { canonicalPeer } from '../../network/isolation/policy.js';
import type { AwsSecurityGroup, AzureNsg, GcpFirewall } from '../../network/isolation/cloud.js';

const ANY = new Set(['0.0.0.0/0', '::/0', '*']);

function summarise(map: Map<string, Set<string>>): string[] {
  return [...map.entries()]
    .map(([k, peers]) => {
      const [dir] = k.split(' ');
      const list = [...peers];
      const any = list.length === 0 || list.some((p) => p === '*') || (list.includes('0.0.0.0/0') && list.includes('::/0'));
      return `${k} ${dir === 'inbound' ? 'from' : 'to'} ${any ? 'any' : list.filter((p) => !ANY.has(p)).map(canonicalPeer).sort().join(',')}`;
    })
    .sort();
}

function add(map: Map<string, Set<string>>, key: string, peers: string[]): void {
  const s = map.get(key) ?? new Set<string>();
  for (const p of peers) s.add(p);
  map.set(key, s);
}

type NftExpr = Record<string, unknown>;
interface NftMatch { match?: { left: Record<string, Record<string, string>>; right: unknown } }

/** Flows accepted by a ruleset as listed by `nft -j list table`, ignoring loopback, conntrack, DHCP, ND and root-only rules. */
export function nftFlows(listing: { nftables: Array<Record<string, unknown>> }): string[] {
  const map = new Map<string, Set<string>>();
  for (const item of listing.nftables) {
    const rule = item.rule as { chain: string; expr: NftExpr[] } | undefined;
    if (!rule || !['input', 'output'].includes(rule.chain)) continue;
    if (!rule.expr.some((e) => 'accept' in e)) continue;
    let proto: string | undefined;
    let port: unknown;
    let peers: string[] = [];
    let special = false;
    for (const e of rule.expr as NftMatch[]) {
      if (!e.match) continue;
      const left = e.match.left;
      if (left.meta || left.ct) special = true;
      const payload = left.payload;
      if (!payload) continue;
      if (payload.field === 'sport' || payload.protocol === 'icmpv6') special = true;
      if (payload.field === 'dport') {
        proto = payload.protocol;
        port = e.match.right;
      }
      if (payload.field === 'saddr' || payload.field === 'daddr') peers = addrList(e.match.right);
    }
    if (special || !proto) continue;
    add(map, `${rule.chain === 'input' ? 'inbound' : 'outbound'} ${proto} ${String(port)}`, peers);
  }
  return summarise(map);
}

function addrList(v: unknown): string[] {
  const one = (x: unknown): string => {
    if (typeof x === 'string') return x;
    const p = (x as { prefix?: { addr: string; len: number } }).prefix;
    if (p) return `${p.addr}/${p.len}`;
    throw new Error(`unexpected nft address ${JSON.stringify(x)}`);
  };
  const set = (v as { set?: unknown[] }).set;
  return set ? set.map(one) : [one(v)];
}

export function azureFlows(nsg: AzureNsg): string[] {
  const map = new Map<string, Set<string>>();
  for (const r of nsg.properties.securityRules) {
    const p = r.properties;
    if (p.access !== 'Allow') continue;
    const inbound = p.direction === 'Inbound';
    const peers = inbound ? (p.sourceAddressPrefixes ?? [p.sourceAddressPrefix ?? '*']) : (p.destinationAddressPrefixes ?? [p.destinationAddressPrefix ?? '*']);
    add(map, `${inbound ? 'inbound' : 'outbound'} ${p.protocol.toLowerCase()} ${p.destinationPortRange}`, peers);
  }
  return summarise(map);
}

export function awsFlows(sg: AwsSecurityGroup): string[] {
  const map = new Map<string, Set<string>>();
  for (const [dir, list] of [['inbound', sg.Properties.SecurityGroupIngress], ['outbound', sg.Properties.SecurityGroupEgress]] as const) {
    for (const r of list) {
      if (r.FromPort !== r.ToPort) throw new Error('port ranges are not expected');
      add(map, `${dir} ${r.IpProtocol} ${r.FromPort}`, [r.CidrIp ?? r.CidrIpv6 ?? '?']);
    }
  }
  return summarise(map);
}

export function gcpFlows(rules: GcpFirewall[]): string[] {
  const map = new Map<string, Set<string>>();
  for (const r of rules) {
    for (const a of r.allowed ?? []) {
      for (const port of a.ports ?? []) {
        const inbound = r.direction === 'INGRESS';
        add(map, `${inbound ? 'inbound' : 'outbound'} ${a.IPProtocol} ${port}`, (inbound ? r.sourceRanges : r.destinationRanges) ?? []);
      }
    }
  }
  return summarise(map);
}
