/**
 * The isolated boot: boot the prepared disk once so the first-boot runner can do what only a
 * running Windows can (VDA reconfigure, installers, online unjoin), then power off.
 * A driver only boots and waits; reading the results and removing the runner happen offline
 * afterwards (vda/firstboot/results.ts, cleanup.ts). Drivers: `qemu` (local KVM, this folder);
 * a cloud driver (the platform boots a VM from the disk) implements the same interface later.
 */

export type NetworkMode =
  /** No network device at all (the default: the image cannot reach a domain controller). */
  | 'none'
  /** A NIC on QEMU's user-mode network with restrict=on: DHCP from QEMU, no route to the host or outside. */
  | 'isolated';

export interface BootDisk {
  path: string;
  /** qemu -drive format: raw, qcow2, vpc (VHD), vhdx, vmdk. */
  format: 'raw' | 'qcow2' | 'vpc' | 'vhdx' | 'vmdk';
  /** GPT disks boot with UEFI (OVMF), MBR disks with BIOS, unless `firmware` says otherwise. */
  partitionTable?: 'gpt' | 'mbr';
}

export interface BootRequest {
  disk: BootDisk;
  firmware?: 'bios' | 'uefi';
  network?: NetworkMode;
  /** Hard limit: the VM is killed after this and the outcome says timedOut. */
  timeoutSeconds: number;
  memoryMiB?: number;
  cpus?: number;
  /** Each line the guest writes to its first serial port (COM1 / ttyS0). */
  onConsoleLine?(line: string): void;
  signal?: AbortSignal;
  /** A scratch directory for the UEFI variable store and the console log. */
  workDir: string;
  /**
   * Hardware acceleration: 'kvm' (default; a Windows first boot needs it) or 'tcg' (QEMU's emulator:
   * for the driver's own tests with a tiny Linux guest on hosts whose KVM cannot run plain guests,
   * e.g. nested PVM; far too slow for Windows).
   */
  accel?: 'kvm' | 'tcg';
  /** Direct kernel boot (Linux guests, the driver's own tests); Windows boots from the disk. */
  kernel?: { kernel: string; initrd?: string; append?: string };
}

export interface BootOutcome {
  driver: string;
  /** The guest powered off by itself within the timeout. */
  poweredOff: boolean;
  timedOut: boolean;
  cancelled: boolean;
  /** The hypervisor process's exit code (qemu: 0 after a guest power-off). */
  exitCode: number | null;
  durationMs: number;
  firmware: 'bios' | 'uefi';
  network: NetworkMode;
  /** Path of the full serial console capture. */
  consoleLog: string;
  /** The last console lines (for the report). */
  consoleTail: string[];
  /** The hypervisor command line (no secrets: only paths). */
  command: string[];
}

export interface BootDriver {
  readonly name: string;
  /** Boot once and wait for power-off or the timeout. Throws only when the VM cannot start. */
  boot(req: BootRequest): Promise<BootOutcome>;
}
