/**
 * Platform presets (`--preset`): what each platform accepts, checked before anything is written.
 * A preset picks or restricts the output format, may round the virtual size up (never down; the
 * result lists it in `notes`), and may forbid sparse host files. A violation is
 * DISK_PRESET_VIOLATION naming the rule (`details.rule`).
 */
import { CeError } from '../core/errors.js';
import type { Disk } from './types.js';
import { VHD_MAX_SIZE } from './vhd/footer.js';

const MiB = 1 << 20;
const GiB = 1 << 30;

export interface PresetInput {
  to?: string;
  disk: Disk;
  dst: string;
}

export interface PresetPlan {
  target: string;
  /** Output virtual size when the platform needs a rounded size. */
  virtualSize?: number;
  /** false: never leave holes in the output file. */
  sparse?: boolean;
  /** Wrap the output as `disk.raw` in a .tar.gz. */
  tarGz?: boolean;
  notes: string[];
}

export interface Preset {
  name: string;
  description: string;
  targets: string[];
  plan(input: PresetInput): PresetPlan;
}

export function violation(preset: string, rule: string, message: string, hint?: string): CeError {
  return new CeError('DISK_PRESET_VIOLATION', `Preset ${preset}, rule ${rule}: ${message}`, { hint, status: 400, details: { preset, rule } });
}

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

function pickTarget(p: { name: string; targets: string[] }, to: string | undefined): string {
  if (to === undefined) return p.targets[0]!;
  if (!p.targets.includes(to)) {
    throw violation(p.name, `${p.name}.format`, `the platform accepts ${p.targets.join(' or ')}, not --to ${to}.`, `Use --to ${p.targets[0]} (or drop --to).`);
  }
  return to;
}

function maxSize(p: string, disk: Disk, max: number, what: string): void {
  if (disk.virtualSize > max) {
    throw violation(p, `${p}.max-size`, `the disk has ${disk.virtualSize} bytes; ${what} holds at most ${max}.`, 'Shrink the volume inside the image first.');
  }
}

function roundTo(plan: PresetPlan, disk: Disk, unit: number, label: string): void {
  const size = roundUp(disk.virtualSize, unit);
  if (size !== disk.virtualSize) {
    plan.virtualSize = size;
    plan.notes.push(`virtual size rounded up from ${disk.virtualSize} to ${size} bytes (${label})`);
  }
}

export const presets: Preset[] = [
  {
    name: 'azure',
    description: 'Azure: fixed VHD, virtual size a whole number of MiB, file = size + 512, exact size in the footer',
    targets: ['vhd-fixed'],
    plan({ to, disk }) {
      const plan: PresetPlan = { target: pickTarget(this, to), notes: [] };
      maxSize('azure', disk, 32 * 1024 * GiB - 512 * MiB, 'an Azure managed disk');
      roundTo(plan, disk, MiB, 'azure.size-mib: Azure needs whole MiB');
      return plan;
    },
  },
  {
    name: 'hyperv',
    description: 'Hyper-V: VHDX, unmapped BAT entries with offset 0, never a sparse host file',
    targets: ['vhdx', 'vhdx-fixed'],
    plan({ to, disk }) {
      maxSize('hyperv', disk, 64 * 1024 * GiB, 'a VHDX');
      // Hyper-V refuses VHD/VHDX files with the NTFS sparse attribute (disk-formats.md §3.2).
      return { target: pickTarget(this, to), sparse: false, notes: ['hyperv.no-sparse: no holes in the output file'] };
    },
  },
  {
    name: 'vsphere',
    description: 'vSphere: streamOptimized VMDK v3 with EOS (import), or monolithicFlat (datastore)',
    targets: ['vmdk-stream', 'vmdk-flat'],
    plan({ to }) {
      return { target: pickTarget(this, to), notes: [] };
    },
  },
  {
    name: 'aws',
    description: 'AWS VM Import: streamOptimized VMDK, or VHD',
    targets: ['vmdk-stream', 'vhd', 'vhd-fixed'],
    plan({ to, disk }) {
      const target = pickTarget(this, to);
      if (target === 'vhd') maxSize('aws', disk, VHD_MAX_SIZE, 'a dynamic VHD');
      return { target, notes: [] };
    },
  },
  {
    name: 'gcp',
    description: 'Google Cloud: raw, as disk.raw inside a .tar.gz when the output name ends in .tar.gz; size a whole number of GiB',
    targets: ['raw'],
    plan({ to, disk, dst }) {
      const plan: PresetPlan = { target: pickTarget(this, to), notes: [], tarGz: /\.tar\.gz$|\.tgz$/.test(dst) };
      roundTo(plan, disk, GiB, 'gcp.size-gib: GCE imports whole GiB');
      if (plan.tarGz) plan.notes.push('gcp.tar-gz: output is disk.raw in a gzip-compressed GNU tar');
      return plan;
    },
  },
  {
    name: 'xenserver',
    description: 'XenServer / XCP-ng: dynamic VHD (at most 2040 GiB)',
    targets: ['vhd'],
    plan({ to, disk }) {
      const target = pickTarget(this, to);
      maxSize('xenserver', disk, VHD_MAX_SIZE, 'a dynamic VHD');
      return { target, notes: [] };
    },
  },
  {
    name: 'nutanix',
    description: 'Nutanix AHV: qcow2 or raw',
    targets: ['qcow2', 'raw'],
    plan({ to }) {
      return { target: pickTarget(this, to), notes: [] };
    },
  },
];

export function findPreset(name: string): Preset {
  const p = presets.find((x) => x.name === name);
  if (!p) throw new CeError('DISK_PRESET_UNKNOWN', `Unknown preset "${name}".`, { hint: `Presets: ${presets.map((x) => x.name).join(', ')}.`, status: 400 });
  return p;
}
