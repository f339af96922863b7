/**
 * The isolation policy as the cloud platforms express it (service documentation, "Network
 * isolation"): an Azure network security group, an AWS security group, GCP firewall rules that
 * target the network tag `compositing-engine`. Each is the resource body the platform's
 * template/API takes (ARM resource, CloudFormation resource, compute#firewall list).
 *
 * What the clouds never filter, so no rule is emitted for it: DHCP, the platform DNS, instance
 * metadata (169.254.169.254) and, on Azure, the wire server 168.63.129.16 (the documentation's
 * "that required for internal Azure services"). The host nftables rules cover those itself.
 */
import { familyOf, type IsolationPolicy, type PortRule } from './policy.js';

export const GCP_NETWORK_TAG = 'compositing-engine';

const ANY4 = '0.0.0.0/0';
const ANY6 = '::/0';

/** Peers of a rule split by family; "any" is both families' default route. */
function peersByFamily(r: PortRule): { v4: string[]; v6: string[] } {
  if (!r.peers.length) return { v4: [ANY4], v6: [ANY6] };
  return { v4: r.peers.filter((p) => familyOf(p) === 4), v6: r.peers.filter((p) => familyOf(p) === 6) };
}

// ---------------------------------------------------------------------------------------------
// Azure: Microsoft.Network/networkSecurityGroups. Custom rules take priorities 100-4096 (lower
// wins); the built-in defaults (AllowVnetInBound 65000, AllowInternetOutBound 65001, …) sit
// above 65000, so the two deny-all rules at 4096 override them.
// ---------------------------------------------------------------------------------------------
export interface AzureSecurityRule {
  name: string;
  properties: {
    description: string;
    protocol: 'Tcp' | 'Udp' | '*';
    sourcePortRange: '*';
    destinationPortRange: string;
    sourceAddressPrefix?: string;
    sourceAddressPrefixes?: string[];
    destinationAddressPrefix?: string;
    destinationAddressPrefixes?: string[];
    access: 'Allow' | 'Deny';
    priority: number;
    direction: 'Inbound' | 'Outbound';
  };
}

export interface AzureNsg {
  type: 'Microsoft.Network/networkSecurityGroups';
  apiVersion: string;
  name: string;
  location: string;
  properties: { securityRules: AzureSecurityRule[] };
}

export function azureNsg(policy: IsolationPolicy, name = 'ce-isolation'): AzureNsg {
  const prefixes = (list: string[], field: 'source' | 'destination') =>
    list.length === 0 ? { [`${field}AddressPrefix`]: '*' } : list.length === 1 ? { [`${field}AddressPrefix`]: list[0] } : { [`${field}AddressPrefixes`]: list };
  const securityRules: AzureSecurityRule[] = policy.rules.map((r, i) => ({
    name: r.name,
    properties: {
      description: r.description,
      protocol: r.protocol === 'tcp' ? 'Tcp' : 'Udp',
      sourcePortRange: '*',
      destinationPortRange: String(r.port),
      ...(r.direction === 'inbound'
        ? { ...prefixes(r.peers, 'source'), destinationAddressPrefix: '*' }
        : { sourceAddressPrefix: '*', ...prefixes(r.peers, 'destination') }),
      access: 'Allow',
      priority: 100 + 10 * i,
      direction: r.direction === 'inbound' ? 'Inbound' : 'Outbound',
    } as AzureSecurityRule['properties'],
  }));
  for (const direction of ['Inbound', 'Outbound'] as const) {
    securityRules.push({
      name: `ce-deny-all-${direction === 'Inbound' ? 'in' : 'out'}`,
      properties: {
        description: `Deny all other ${direction.toLowerCase()} traffic (overrides the default allow rules)`,
        protocol: '*',
        sourcePortRange: '*',
        destinationPortRange: '*',
        sourceAddressPrefix: '*',
        destinationAddressPrefix: '*',
        access: 'Deny',
        priority: 4096,
        direction,
      },
    });
  }
  return {
    type: 'Microsoft.Network/networkSecurityGroups',
    apiVersion: '2023-09-01',
    name,
    location: '[resourceGroup().location]',
    properties: { securityRules },
  };
}

// ---------------------------------------------------------------------------------------------
// AWS: AWS::EC2::SecurityGroup (CloudFormation). Security groups only allow; what is not listed
// is dropped. A SecurityGroupEgress list replaces the default allow-all egress rule, but an
// EMPTY list keeps it, hence the loopback placeholder when nothing may go out.
// ---------------------------------------------------------------------------------------------
export interface AwsRule {
  IpProtocol: 'tcp' | 'udp' | '-1';
  FromPort: number;
  ToPort: number;
  CidrIp?: string;
  CidrIpv6?: string;
  Description: string;
}

export interface AwsSecurityGroup {
  Type: 'AWS::EC2::SecurityGroup';
  Properties: {
    GroupDescription: string;
    VpcId: { Ref: string };
    SecurityGroupIngress: AwsRule[];
    SecurityGroupEgress: AwsRule[];
    Tags: Array<{ Key: string; Value: string }>;
  };
}

export function awsSecurityGroup(policy: IsolationPolicy): AwsSecurityGroup {
  const rulesFor = (direction: 'inbound' | 'outbound'): AwsRule[] =>
    policy.rules
      .filter((r) => r.direction === direction)
      .flatMap((r) => {
        const { v4, v6 } = peersByFamily(r);
        const base = { IpProtocol: r.protocol, FromPort: r.port, ToPort: r.port, Description: `${r.name}: ${r.description}` } as const;
        return [...v4.map((c) => ({ ...base, CidrIp: c })), ...v6.map((c) => ({ ...base, CidrIpv6: c }))];
      });
  const egress = rulesFor('outbound');
  if (!egress.length) egress.push({ IpProtocol: '-1', FromPort: -1, ToPort: -1, CidrIp: '127.0.0.1/32', Description: 'placeholder: no egress (an empty list would keep allow-all)' });
  return {
    Type: 'AWS::EC2::SecurityGroup',
    Properties: {
      GroupDescription: 'Compositing Engine isolation: HTTPS in from the connector, SMB out to the share, nothing else',
      VpcId: { Ref: 'VpcId' },
      SecurityGroupIngress: rulesFor('inbound'),
      SecurityGroupEgress: egress,
      Tags: [{ Key: 'Name', Value: 'ce-isolation' }],
    },
  };
}

// ---------------------------------------------------------------------------------------------
// GCP: compute#firewall resources applied through the target tag `compositing-engine` (the tag
// the service gives every CE). A rule holds ranges of one IP family only, so "any" becomes a
// -v4 and a -v6 rule. Lower priority numbers win: the allows (900) beat the deny-alls (1000),
// and the deny-alls beat the default network's allow rules (default-allow-internal is 65534).
// ---------------------------------------------------------------------------------------------
export interface GcpFirewall {
  name: string;
  network: string;
  description: string;
  direction: 'INGRESS' | 'EGRESS';
  priority: number;
  targetTags: string[];
  allowed?: Array<{ IPProtocol: string; ports?: string[] }>;
  denied?: Array<{ IPProtocol: string }>;
  sourceRanges?: string[];
  destinationRanges?: string[];
}

export function gcpFirewallRules(policy: IsolationPolicy, network = 'default'): GcpFirewall[] {
  const net = `global/networks/${network}`;
  const out: GcpFirewall[] = [];
  const ranges = (direction: 'inbound' | 'outbound', list: string[]) => (direction === 'inbound' ? { sourceRanges: list } : { destinationRanges: list });
  for (const r of policy.rules) {
    const { v4, v6 } = peersByFamily(r);
    for (const [suffix, list] of [['v4', v4], ['v6', v6]] as const) {
      if (!list.length) continue;
      out.push({
        name: `${r.name}-${suffix}`,
        network: net,
        description: r.description,
        direction: r.direction === 'inbound' ? 'INGRESS' : 'EGRESS',
        priority: 900,
        targetTags: [GCP_NETWORK_TAG],
        allowed: [{ IPProtocol: r.protocol, ports: [String(r.port)] }],
        ...ranges(r.direction, list),
      });
    }
  }
  for (const direction of ['inbound', 'outbound'] as const) {
    for (const [suffix, any] of [['v4', ANY4], ['v6', ANY6]] as const) {
      out.push({
        name: `ce-deny-all-${direction === 'inbound' ? 'in' : 'out'}-${suffix}`,
        network: net,
        description: `Deny all other ${direction} traffic of the compositing engine`,
        direction: direction === 'inbound' ? 'INGRESS' : 'EGRESS',
        priority: 1000,
        targetTags: [GCP_NETWORK_TAG],
        denied: [{ IPProtocol: 'all' }],
        ...ranges(direction, [any]),
      });
    }
  }
  return out;
}
