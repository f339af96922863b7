/**
 * Resolve a VM size to its temp disk: formatted (pagefile → D:), raw (keep the pagefile on C:),
 * or none. Order: a capability value from the platform API (`maxResourceVolumeMB`, 0 = none) wins;
 * then a whole-SKU entry of skus.json; then the name rules (platforms.md §3.2).
 */
import skusJson from './skus.json' with { type: 'json' };
import { CeError } from '../core/errors.js';

export type Platform = 'azure' | 'aws' | 'gcp';
export type TempDisk = 'formatted' | 'raw' | 'none';

interface Catalogue {
  azure: {
    defaultSku: string;
    tempDiskLetter: string;
    dRuleFromVersion: number;
    rawNvmeFromVersion: number;
    preV4: { default: TempDisk; noTempDisk: string[] };
    exceptions: Record<string, string>;
    skus: Record<string, string>;
  };
  aws: { instanceStoreFamilies: string[] };
  gcp: { localSsdSuffix: string; localSsdFamilies: string[] };
}

/** The catalogue (imported so the build copies skus.json next to the compiled module). */
export function catalogue(): Catalogue {
  return skusJson as unknown as Catalogue;
}

export interface SkuResolution {
  platform: Platform;
  sku: string;
  family?: string;
  version?: number;
  additive?: string;
  tempDisk: TempDisk;
  /** The drive letter of a formatted temp disk (Azure D:). */
  letter?: string;
  source: 'capability' | 'catalogue' | 'name-rule';
  /** Why, in one sentence. */
  rule: string;
}

export interface AzureSkuName {
  family: string;
  vcpus: number;
  constrained?: number;
  additive: string;
  accelerator?: string;
  version: number;
}

/** Standard_<Family><vCPUs>[-<constrained>]<additive>[_<accelerator>][_v<N>] (e.g. Standard_E4-2ads_v5, Standard_DS2_v2, Standard_B2ms). */
export function parseAzureSku(sku: string): AzureSkuName | undefined {
  const m = /^(?:Standard|Basic)_([A-Z]+)(\d+)(?:-(\d+))?([a-z]*)(?:_([A-Z][A-Za-z0-9]*))?(?:_v(\d+))?$/.exec(sku.trim());
  if (!m) return undefined;
  let family = m[1];
  let additive = m[4];
  // Old premium-storage names put the S in the family: DS2_v2, GS5, DS11-1_v2.
  if (/^(DS|GS|FS|LS)$/.test(family)) {
    family = family[0];
    additive = 's' + additive;
  }
  return { family, vcpus: Number(m[2]), constrained: m[3] ? Number(m[3]) : undefined, additive, accelerator: m[5], version: m[6] ? Number(m[6]) : 1 };
}

export function resolveSku(platform: Platform, sku: string, capability?: { maxResourceVolumeMB?: number }): SkuResolution {
  const cat = catalogue();
  if (platform === 'azure') {
    const n = parseAzureSku(sku);
    const base = { platform, sku, family: n?.family, version: n?.version, additive: n?.additive };
    const letter = cat.azure.tempDiskLetter;
    if (capability?.maxResourceVolumeMB !== undefined) {
      const has = capability.maxResourceVolumeMB > 0;
      const raw = has && (n?.version ?? 0) >= cat.azure.rawNvmeFromVersion;
      const tempDisk: TempDisk = !has ? 'none' : raw ? 'raw' : 'formatted';
      return { ...base, tempDisk, letter: tempDisk === 'formatted' ? letter : undefined, source: 'capability', rule: `MaxResourceVolumeMB = ${capability.maxResourceVolumeMB}${raw ? ' on a v6+ SKU (raw NVMe temp disk)' : ''}.` };
    }
    const known = Object.entries(cat.azure.skus).find(([k]) => k.toLowerCase() === sku.toLowerCase());
    if (known && !k$(known[0])) {
      const tempDisk = known[1] as TempDisk;
      return { ...base, tempDisk, letter: tempDisk === 'formatted' ? letter : undefined, source: 'catalogue', rule: `${known[0]} is listed in pagefile/skus.json.` };
    }
    if (!n) {
      throw new CeError('SKU_UNKNOWN', `${sku} is not an Azure VM size name (Standard_<family><vCPUs><features>_v<N>).`, {
        hint: 'Give a size such as Standard_D2s_v3, or pass maxResourceVolumeMB from the Resource SKUs API.',
        status: 400,
      });
    }
    const key = `${n.family}${n.additive}v${n.version}`;
    const exc = Object.entries(cat.azure.exceptions).find(([k]) => !k$(k) && k.toLowerCase() === key.toLowerCase());
    if (exc) {
      const tempDisk = exc[1] as TempDisk;
      return { ...base, tempDisk, letter: tempDisk === 'formatted' ? letter : undefined, source: 'catalogue', rule: `${key} is a listed exception to the d rule.` };
    }
    if (n.version >= cat.azure.dRuleFromVersion) {
      const hasD = n.additive.includes('d');
      if (!hasD) return { ...base, tempDisk: 'none', source: 'name-rule', rule: `v${n.version} without 'd' in "${n.additive}": no temp disk.` };
      if (n.version >= cat.azure.rawNvmeFromVersion) {
        return { ...base, tempDisk: 'raw', source: 'name-rule', rule: `v${n.version} with 'd': a raw (unformatted) NVMe temp disk, formatted by the guest at each start.` };
      }
      return { ...base, tempDisk: 'formatted', letter, source: 'name-rule', rule: `v${n.version} with 'd': a temp disk (${letter}).` };
    }
    const famVer = `${n.family}v${n.version}`;
    if (cat.azure.preV4.noTempDisk.some((f) => f.toLowerCase() === famVer.toLowerCase())) {
      return { ...base, tempDisk: 'none', source: 'catalogue', rule: `${famVer} has no temp disk.` };
    }
    const tempDisk = cat.azure.preV4.default;
    return { ...base, tempDisk, letter: tempDisk === 'formatted' ? letter : undefined, source: 'name-rule', rule: `Before v4 a temp disk is included without a 'd' (${n.family} v${n.version}).` };
  }
  if (platform === 'aws') {
    const m = /^([a-z]+)(\d+)([a-z-]*)\.([a-z0-9]+)$/.exec(sku.trim());
    if (!m) throw new CeError('SKU_UNKNOWN', `${sku} is not an EC2 instance type (e.g. m5.large).`, { hint: 'Give an instance type such as m5.large or m5d.xlarge.', status: 400 });
    const family = `${m[1]}${m[2]}${m[3]}`;
    const store = m[3].includes('d') || cat.aws.instanceStoreFamilies.includes(family) || cat.aws.instanceStoreFamilies.includes(`${m[1]}${m[2]}`);
    if (capability?.maxResourceVolumeMB !== undefined) {
      return { platform, sku, family, tempDisk: capability.maxResourceVolumeMB > 0 ? 'raw' : 'none', source: 'capability', rule: 'Instance store capacity from the capability value; instance store is raw on Windows.' };
    }
    return store
      ? { platform, sku, family, tempDisk: 'raw', source: 'name-rule', rule: 'Instance store volumes are raw NVMe without a drive letter; the pagefile stays on C:.' }
      : { platform, sku, family, tempDisk: 'none', source: 'name-rule', rule: 'EBS only: no local disk.' };
  }
  const isLssd = sku.endsWith(cat.gcp.localSsdSuffix) || cat.gcp.localSsdFamilies.some((f) => sku.startsWith(`${f}-`));
  if (capability?.maxResourceVolumeMB !== undefined) {
    return { platform, sku, tempDisk: capability.maxResourceVolumeMB > 0 ? 'raw' : 'none', source: 'capability', rule: 'Local SSD capacity from the capability value; local SSDs are raw on Windows.' };
  }
  return isLssd
    ? { platform, sku, tempDisk: 'raw', source: 'name-rule', rule: 'Local SSDs are raw and not formatted on Windows; the pagefile stays on C:.' }
    : { platform, sku, tempDisk: 'none', source: 'name-rule', rule: 'Persistent disks only: no local disk.' };
}

/** Keys starting with $ are comments in skus.json. */
function k$(k: string): boolean {
  return k.startsWith('$');
}
