/** A format module not built yet on this branch: never probes true, refuses to open or write. */
import { CeError } from '../core/errors.js';
import type { DiskFormatModule, DiskWriter, FormatName } from './types.js';

const TARGETS: Record<string, string[]> = { vhdx: ['vhdx', 'vhdx-fixed'], vmdk: ['vmdk', 'vmdk-stream', 'vmdk-flat'], qcow2: ['qcow2'] };

function unsupported(name: string): CeError {
  return new CeError('DISK_FORMAT_UNSUPPORTED', `The ${name} format is not available in this build.`, { hint: 'Use raw or VHD.', status: 501 });
}

export function placeholderFormat(name: FormatName): DiskFormatModule & { placeholder: true } {
  const writers: DiskWriter[] = (TARGETS[name] ?? []).map((target) => ({
    target,
    format: name,
    subformat: 'placeholder',
    streamable: false,
    write: async () => {
      throw unsupported(name);
    },
  }));
  return {
    name,
    placeholder: true,
    probe: () => false,
    open: async () => {
      throw unsupported(name);
    },
    writers,
  };
}
