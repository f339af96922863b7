/**
 * The local boot driver: QEMU/KVM on the CE itself.
 *  - `-accel kvm` with QEMU's default CPU model (`-cpu host` aborts on nested/PVM hosts, toolchain.md);
 *  - q35 with the disk on the built-in AHCI controller (Windows has the in-box storahci driver);
 *  - `-nodefaults`: no NIC unless the job allows the isolated user-mode one (restrict=on);
 *  - UEFI from OVMF (a private copy of the variable store) for GPT disks, SeaBIOS for MBR;
 *  - the first serial port on stdout, captured line by line into the job log and a file;
 *  - reboots stay inside QEMU (the runner reboots between scripts); the guest's power-off ends it;
 *  - a hard timeout kills it (SIGTERM, then SIGKILL).
 */
import { copyFile, access } from 'node:fs/promises';
import { constants, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { CeError } from '../../core/errors.js';
import type { BootDriver, BootOutcome, BootRequest, NetworkMode } from './types.js';

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const QEMU = 'qemu-system-x86_64';
const TAIL_LINES = 200;

export interface QemuDriverOptions {
  /** Binary name or path (default qemu-system-x86_64). */
  qemu?: string;
  /** Request fields every boot of this driver gets unless the request sets them (tests: a Linux guest kernel, tcg). */
  defaults?: Partial<Pick<BootRequest, 'accel' | 'kernel' | 'memoryMiB' | 'cpus'>>;
}

export function firmwareFor(req: Pick<BootRequest, 'firmware' | 'disk'>): 'bios' | 'uefi' {
  return req.firmware ?? (req.disk.partitionTable === 'gpt' ? 'uefi' : 'bios');
}

/** The qemu command line for a request (exported for the dry-run report and the tests). */
export function qemuArgs(req: BootRequest, varsPath: string): string[] {
  const fw = firmwareFor(req);
  const net: NetworkMode = req.network ?? 'none';
  const args = [
    '-name', 'ce-isolated-boot',
    '-no-user-config', '-nodefaults',
    '-machine', 'q35', '-accel', req.accel ?? 'kvm',
    '-m', String(req.memoryMiB ?? 4096),
    '-smp', String(req.cpus ?? 2),
    '-display', 'none', '-vga', 'std',
    '-monitor', 'none', '-serial', 'stdio',
    '-rtc', 'base=utc',
    '-drive', `file=${req.disk.path},format=${req.disk.format},if=none,id=disk0,cache=writeback`,
    // Direct kernel boot takes boot index 0 itself (QEMU's linuxboot option ROM).
    '-device', `ide-hd,drive=disk0,bus=ide.0${req.kernel ? '' : ',bootindex=0'}`,
  ];
  if (fw === 'uefi') {
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,unit=1,file=${varsPath}`);
  }
  if (net === 'isolated') args.push('-nic', 'user,model=e1000,restrict=on');
  else args.push('-nic', 'none');
  if (req.kernel) {
    args.push('-kernel', req.kernel.kernel);
    if (req.kernel.initrd) args.push('-initrd', req.kernel.initrd);
    if (req.kernel.append) args.push('-append', req.kernel.append);
  }
  return args;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|[\x00-\x08\x0b-\x1f\x7f]/g;

export class QemuBootDriver implements BootDriver {
  readonly name = 'qemu';
  constructor(private readonly opts: QemuDriverOptions = {}) {}

  async boot(request: BootRequest): Promise<BootOutcome> {
    const req: BootRequest = { ...this.opts.defaults, ...request };
    for (const k of ['accel', 'kernel', 'memoryMiB', 'cpus'] as const) if (request[k] === undefined && this.opts.defaults?.[k] !== undefined) (req as unknown as Record<string, unknown>)[k] = this.opts.defaults[k];
    if (!Number.isFinite(req.timeoutSeconds) || req.timeoutSeconds <= 0) {
      throw new CeError('BOOT_OPTION_INVALID', `timeoutSeconds must be positive, not ${req.timeoutSeconds}.`, { status: 400 });
    }
    if ((req.accel ?? 'kvm') === 'kvm') await access('/dev/kvm', constants.R_OK | constants.W_OK).catch(() => {
      throw new CeError('BOOT_NO_KVM', 'The isolated boot needs /dev/kvm and the CE has none.', {
        status: 500,
        hint: 'Run the CE on a VM with nested virtualisation, or use the cloud boot driver.',
      });
    });
    await access(req.disk.path, constants.R_OK | constants.W_OK).catch(() => {
      throw new CeError('BOOT_DISK_MISSING', `The disk ${req.disk.path} cannot be opened for writing.`, { status: 404 });
    });
    const firmware = firmwareFor(req);
    const varsPath = join(req.workDir, 'OVMF_VARS.fd');
    if (firmware === 'uefi') {
      await access(OVMF_CODE).catch(() => {
        throw new CeError('BOOT_FIRMWARE_MISSING', `UEFI firmware ${OVMF_CODE} is missing.`, { status: 500, hint: 'apt-get install -y ovmf' });
      });
      await copyFile(OVMF_VARS, varsPath);
    }
    const args = qemuArgs(req, varsPath);
    const consoleLog = join(req.workDir, 'console.log');
    const logStream = createWriteStream(consoleLog);
    const tail: string[] = [];
    const started = performance.now();
    let timedOut = false;
    let cancelled = false;

    const child = execa(this.opts.qemu ?? QEMU, args, {
      reject: false,
      stdin: 'ignore',
      buffer: { stdout: false, stderr: true },
      forceKillAfterDelay: 5000,
    });
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (raw) => {
      logStream.write(raw + '\n');
      const line = raw.replace(CONTROL, '').trimEnd();
      if (!line) return;
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      req.onConsoleLine?.(line);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
    }, req.timeoutSeconds * 1000);
    const onAbort = () => {
      cancelled = true;
      child.kill('SIGTERM');
    };
    req.signal?.addEventListener('abort', onAbort, { once: true });
    if (req.signal?.aborted) onAbort();
    let result;
    try {
      result = await child;
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      rl.close();
      await new Promise<void>((r) => logStream.end(r));
    }
    if ((result as { code?: string }).code === 'ENOENT') {
      throw new CeError('TOOL_MISSING', `The tool ${QEMU} is not installed.`, { hint: 'apt-get install -y qemu-system-x86', status: 500 });
    }
    const exitCode = result.exitCode ?? null;
    const durationMs = Math.round(performance.now() - started);
    if (!timedOut && !cancelled && exitCode !== 0) {
      throw new CeError('BOOT_FAILED', `${QEMU} exited with ${exitCode ?? result.signal}: ${firstError(String(result.stderr ?? ''))}`, {
        status: 500,
        details: { exitCode, stderr: String(result.stderr ?? '').slice(-4000), command: args },
      });
    }
    return {
      driver: this.name,
      poweredOff: !timedOut && !cancelled && exitCode === 0,
      timedOut,
      cancelled,
      exitCode,
      durationMs,
      firmware,
      network: req.network ?? 'none',
      consoleLog,
      consoleTail: tail,
      command: [this.opts.qemu ?? QEMU, ...args],
    };
  }
}

/** The first stderr line that is not a warning (QEMU warns about CPUID features on nested hosts). */
function firstError(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim());
  return lines.find((l) => !/warning:/i.test(l)) ?? lines[0] ?? '';
}
