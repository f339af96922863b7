/**
 * The CE network isolation policy, one platform-neutral description from which the nftables
 * ruleset (nft.ts) and the cloud equivalents (cloud.ts: Azure NSG, AWS security group, GCP
 * firewall rules on the `compositing-engine` tag) are generated, so they cannot drift apart.
 *
 * Service documentation, "Network isolation": block all traffic in and out of the CE except
 * HTTPS (443) inbound from the connector and SMB (445) outbound to the share, plus what the
 * platform needs (DHCP, DNS, the metadata/wire-server endpoints).
 */
import { isIP } from 'node:net';
import { CeError } from '../../core/errors.js';

export type Direction = 'inbound' | 'outbound';
export type Protocol = 'tcp' | 'udp';

/** One allowed flow: a new connection in `direction` to `port` (the CE's port when inbound, the peer's when outbound). */
export interface PortRule {
  name: string;
  direction: Direction;
  protocol: Protocol;
  port: number;
  /** Peer addresses/CIDRs (the source when inbound, the destination when outbound); empty = any. */
  peers: string[];
  description: string;
}

export interface IsolationPolicy {
  /** The flows the CE needs for its job: 443 in, 445 out (and DNS when configured). */
  rules: PortRule[];
  /** DHCP client traffic (udp 68 <- 67, and DHCPv6 546 <- 547). Clouds never filter it. */
  dhcp: boolean;
  /**
   * Link-local platform endpoints (169.254.169.254 instance metadata; Azure wire server
   * 168.63.129.16), allowed on the host firewall for root-owned sockets only, so first boot
   * and the cloud agent can read custom data and report ready while the CE service (user `ce`)
   * and a Windows guest it boots cannot. Clouds never filter these, so no cloud rule is emitted.
   */
  platformEndpoints: boolean;
}

export interface PolicyOptions {
  /** CIDRs the connector appliances connect from (default any). */
  connectorCidrs?: string[];
  /** CIDRs of the SMB shares (default any). */
  smbCidrs?: string[];
  /** DNS servers to allow (udp+tcp 53 out). Empty = no DNS (the CE is reached by IP and given IPs). */
  dnsServers?: string[];
  dhcp?: boolean;
  platformEndpoints?: boolean;
  /** HTTPS port of the CE service (default 443). */
  httpsPort?: number;
}

export const HTTPS_PORT = 443;
export const SMB_PORT = 445;
export const METADATA_ADDRESS = '169.254.169.254';
export const AZURE_WIRESERVER_ADDRESS = '168.63.129.16';
/** Azure wire server ports: 80 (goal state, health) and 32526 (guest agent). */
export const AZURE_WIRESERVER_PORTS = [80, 32526];

export function buildPolicy(opts: PolicyOptions = {}): IsolationPolicy {
  const connector = checkCidrs(opts.connectorCidrs ?? [], 'connector');
  const smb = checkCidrs(opts.smbCidrs ?? [], 'smb');
  const dns = checkCidrs(opts.dnsServers ?? [], 'dns');
  const httpsPort = opts.httpsPort ?? HTTPS_PORT;
  if (!Number.isInteger(httpsPort) || httpsPort < 1 || httpsPort > 65535) {
    throw new CeError('ISOLATION_BAD_PORT', `The HTTPS port must be 1-65535, got ${String(opts.httpsPort)}.`);
  }
  const rules: PortRule[] = [
    { name: 'ce-https-in', direction: 'inbound', protocol: 'tcp', port: httpsPort, peers: connector, description: 'HTTPS (mutual TLS) from the connector appliance' },
    { name: 'ce-smb-out', direction: 'outbound', protocol: 'tcp', port: SMB_PORT, peers: smb, description: 'SMB to the file share' },
  ];
  if (dns.length) {
    rules.push(
      { name: 'ce-dns-udp-out', direction: 'outbound', protocol: 'udp', port: 53, peers: dns, description: 'DNS queries to the configured servers' },
      { name: 'ce-dns-tcp-out', direction: 'outbound', protocol: 'tcp', port: 53, peers: dns, description: 'DNS over TCP (large answers) to the configured servers' },
    );
  }
  return { rules, dhcp: opts.dhcp ?? true, platformEndpoints: opts.platformEndpoints ?? true };
}

function checkCidrs(list: string[], what: string): string[] {
  for (const c of list) {
    const [addr, len, extra] = c.split('/');
    const family = isIP(addr ?? '');
    const bits = len === undefined ? undefined : Number(len);
    const ok = family !== 0 && extra === undefined && (bits === undefined || (Number.isInteger(bits) && bits >= 0 && bits <= (family === 4 ? 32 : 128)) && len !== '');
    if (!ok) {
      throw new CeError('ISOLATION_BAD_ADDRESS', `Not an IP address or CIDR in the ${what} list: ${JSON.stringify(c)}.`, {
        hint: 'Give IPv4/IPv6 addresses or CIDRs such as 10.0.0.0/24, comma-separated.',
      });
    }
  }
  // Full CIDR notation everywhere (AWS and GCP want it); nft prints hosts without /32 (canonicalPeer).
  return [...new Set(list.map((c) => (c.includes('/') ? c : `${c}/${familyOf(c) === 4 ? 32 : 128}`)))];
}

export function familyOf(cidr: string): 4 | 6 {
  return isIP(cidr.split('/')[0] ?? '') === 6 ? 6 : 4;
}

/** A host address in the form nft lists it: "10.0.0.2/32" is "10.0.0.2". */
export function canonicalPeer(cidr: string): string {
  return cidr.replace(/\/(32|128)$/, (m) => (familyOf(cidr) === 4 ? (m === '/32' ? '' : m) : m === '/128' ? '' : m));
}

/** A comparable summary of the flows a ruleset allows: "inbound tcp 443 from any", sorted. */
export function flowSummary(rules: PortRule[]): string[] {
  const merged = new Map<string, Set<string>>();
  for (const r of rules) {
    const key = `${r.direction} ${r.protocol} ${r.port}`;
    const s = merged.get(key) ?? new Set<string>();
    for (const p of r.peers) s.add(canonicalPeer(p));
    merged.set(key, s);
  }
  return [...merged.entries()]
    .map(([k, peers]) => `${k} ${k.startsWith('inbound') ? 'from' : 'to'} ${peers.size ? [...peers].sort().join(',') : 'any'}`)
    .sort();
}
