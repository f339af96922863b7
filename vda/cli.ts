/**
 * `ce vda …`: the VDA/first-boot commands.
 *   ce vda check-options --options prepare.json     validate the component options (no image needed)
 *   ce vda prepare <target> --options prepare.json [--dry-run]   the full prepare (offline → staging → isolated boot → cleanup)
 *   ce vda finish <target>                           read the first-boot results and remove the runner (after a platform boot)
 *   ce vda boot <disk> [--format raw] [--timeout s] [--network none|isolated] [--uefi]   boot a disk once, isolated
 */
import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { CeError } from '../core/errors.js';
import { printResult, runCommand } from '../core/cli-kit.js';
import { formatPlan } from '../disk/windows/plan.js';
import { finishFirstBoot, prepareImage, validateFullPrepareOptions, type FullPrepareOptions, type FullPrepareResult } from './prepare.js';
import { QemuBootDriver } from './boot/qemu.js';
import type { BootDisk, NetworkMode } from './boot/types.js';
import type { RunnerResults } from './firstboot/results.js';

async function readOptions(file: string): Promise<FullPrepareOptions> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as FullPrepareOptions;
  } catch (e) {
    throw new CeError('VDA_OPTION_INVALID', `Cannot read the options file ${file}: ${(e as Error).message}`, { status: 400, hint: 'Give a JSON file: {"prepare": {…}, "vda": {"components": {…}, "componentSource": {…}, "firstBoot": {…}}}.' });
  }
}

export function formatResults(r: RunnerResults): string {
  const lines = [`first boot: ${r.complete ? 'complete' : 'NOT complete'}${r.succeeded ? ', all scripts ok' : ''}`];
  for (const s of r.scripts) lines.push(`  ${s.script}: ${s.status}${s.exitCode !== undefined ? ` (exit ${s.exitCode})` : ''}${s.message ? ` ${s.message}` : ''}`);
  return lines.join('\n');
}

export function formatFullPrepare(r: FullPrepareResult): string {
  const out = [`${r.dryRun ? 'Dry run (nothing written)' : 'Prepared'} ${r.target}`];
  out.push(formatPlan({ changes: r.changes as never, warnings: r.warnings, notes: r.notes }));
  const fb = r.vda.firstBoot;
  if (fb.scripts.length) {
    out.push(`first-boot runner (${fb.state}):`);
    for (const s of fb.scripts) out.push(`  ${s.file.split('/').pop()}  ${s.description}`);
  }
  for (const s of r.vda.staged ?? []) out.push(`staged ${s.path} (${s.size} bytes, sha256 ${s.sha256})`);
  if (fb.boot) out.push(`boot: ${fb.boot.poweredOff ? 'powered off' : fb.boot.timedOut ? 'TIMED OUT' : 'stopped'} after ${Math.round(fb.boot.durationMs / 1000)} s (${fb.boot.firmware}, network ${fb.boot.network})`);
  if (fb.results) out.push(formatResults(fb.results));
  return out.join('\n');
}

export function registerCommands(program: Command): void {
  const vda = program.command('vda').description('Citrix VDA components and the isolated first boot (reconfigure, MISA, MCSIO, PVS)');

  vda
    .command('check-options')
    .description('validate prepare options (component rules: controllers vs site_guid, ports, WEM, Pvs vs MCSIO) without an image')
    .requiredOption('--options <file>', 'prepare.json')
    .option('--json', 'JSON output')
    .action(async (opts: { options: string; json?: boolean }) =>
      runCommand(opts, async () => {
        const v = validateFullPrepareOptions(await readOptions(opts.options));
        printResult({ valid: true, components: v.components }, opts, () => 'options are valid');
      }),
    );

  vda
    .command('prepare')
    .description('prepare the image: offline edits, component staging, one isolated boot running the first-boot scripts, offline cleanup (root: loop devices and ntfs-3g)')
    .argument('<target>', 'disk image or block device (modified in place unless --dry-run)')
    .requiredOption('--options <file>', 'prepare.json: {"prepare": {pagefile, domainUnjoin, …}, "vda": {"components": {provisioningType, installMisa, installMcsio, installPvs, xdReconfigure}, "componentSource": {"kind":"local","path":…}, "firstBoot": {mode, timeoutSeconds, network}}}')
    .option('--dry-run', 'print the whole plan, including the first-boot scripts, and write nothing')
    .option('--json', 'JSON output')
    .action(async (target: string, opts: { options: string; dryRun?: boolean; json?: boolean }) =>
      runCommand(opts, async () => {
        const r = await prepareImage(target, await readOptions(opts.options), { dryRun: Boolean(opts.dryRun) });
        printResult(r, opts, formatFullPrepare);
      }),
    );

  vda
    .command('finish')
    .description('after a first boot done elsewhere (platform boot): read the results offline and remove the runner and its service entry')
    .argument('<target>', 'disk image or block device')
    .option('--json', 'JSON output')
    .action(async (target: string, opts: { json?: boolean }) =>
      runCommand(opts, async () => {
        const r = await finishFirstBoot(target);
        printResult(r, opts, (x) => `${formatResults(x.results)}\nremoved: ${x.removed.join(', ') || 'nothing'}`);
      }),
    );

  vda
    .command('boot')
    .description('boot a disk once with QEMU/KVM, no network by default, serial console on stderr; stops at power-off or the timeout')
    .argument('<disk>', 'disk image')
    .option('--format <fmt>', 'raw, qcow2, vpc, vhdx, vmdk', 'raw')
    .option('--timeout <seconds>', 'hard limit', '3600')
    .option('--network <mode>', 'none or isolated', 'none')
    .option('--uefi', 'boot with OVMF (GPT disks)')
    .option('--memory <MiB>', 'guest memory', '4096')
    .option('--json', 'JSON output')
    .action(async (disk: string, opts: { format: string; timeout: string; network: string; uefi?: boolean; memory: string; json?: boolean }) =>
      runCommand(opts, async () => {
        if (!['none', 'isolated'].includes(opts.network)) throw new CeError('BOOT_OPTION_INVALID', '--network must be none or isolated.', { status: 400 });
        const work = await mkdtemp(join(tmpdir(), 'ce-boot-'));
        try {
          const r = await new QemuBootDriver().boot({
            disk: { path: disk, format: opts.format as BootDisk['format'] },
            firmware: opts.uefi ? 'uefi' : 'bios',
            network: opts.network as NetworkMode,
            timeoutSeconds: Number(opts.timeout),
            memoryMiB: Number(opts.memory),
            workDir: work,
            onConsoleLine: opts.json ? undefined : (l) => process.stderr.write(`console: ${l}\n`),
          });
          printResult(r, opts, (x) => `${x.poweredOff ? 'powered off' : x.timedOut ? 'timed out (killed)' : 'stopped'} after ${Math.round(x.durationMs / 1000)} s`);
        } finally {
          await rm(work, { recursive: true, force: true });
        }
      }),
    );
}
