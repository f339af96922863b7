/**
 * `ce inspect <image|device>` and `ce prepare <image|device> --options prepare.json [--dry-run]`.
 * Both mount the Windows volume through a loop device and ntfs-3g (root needed) and always unmount.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { CeError } from '../../core/errors.js';
import { printResult, runCommand } from '../../core/cli-kit.js';
import { formatInspection, inspectTarget } from './inspect.js';
import { formatPlan } from './plan.js';
import { prepareWindows, validatePrepareOptions, type PrepareResult } from './prepare.js';

export function registerCommands(program: Command): void {
  program
    .command('inspect')
    .description('inspect the Windows installation on a disk image or block device (read-only): product, build, edition, hostname, domain, pagefile, drive letters, Citrix components, boot mode, hibernation')
    .argument('<target>', 'disk image (raw, VHD, VHDX, VMDK, qcow2) or block device')
    .option('--allow-unsafe', 'inspect a hibernated or unclean volume and dirty hives read-only instead of refusing')
    .option('--json', 'JSON output')
    .action(async (target: string, opts: { json?: boolean; allowUnsafe?: boolean }) =>
      runCommand(opts, async () => {
        const r = await inspectTarget(target, { allowUnsafe: opts.allowUnsafe });
        printResult(r, opts, formatInspection);
      }),
    );

  program
    .command('prepare')
    .description('prepare the Windows image offline for its target platform: pagefile by SKU, domain unjoin, Fast Startup off. Each hive is backed up (<hive>.ce-backup) and saved atomically.')
    .argument('<target>', 'disk image or block device (modified in place unless --dry-run)')
    .requiredOption('--options <file>', 'prepare.json: {"platform":"azure","ceVmSku":"Standard_D2s_v3","maxResourceVolumeMB":…,"domainUnjoin":"none|offline|firstBoot","workgroup":"WORKGROUP","networkIsolation":true,"installMcsio":false,"pagefile":true,"disableFastStartup":true}')
    .option('--dry-run', 'print the plan (before/after of every change) and write nothing; the image stays byte-identical')
    .option('--json', 'JSON output')
    .action(async (target: string, opts: { options: string; dryRun?: boolean; json?: boolean }) =>
      runCommand(opts, async () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(await readFile(opts.options, 'utf8'));
        } catch (e) {
          throw new CeError('PREPARE_BAD_OPTIONS', `Cannot read the options file ${opts.options}: ${(e as Error).message}`, { status: 400, hint: 'Give a JSON file.' });
        }
        const r = await prepareWindows(target, validatePrepareOptions(parsed), { dryRun: Boolean(opts.dryRun) });
        printResult(r, opts, formatPrepare);
      }),
    );
}

export function formatPrepare(r: PrepareResult): string {
  const head = `${r.dryRun ? 'Dry run (nothing written)' : 'Applied'} on ${r.target}${r.sku ? `; ${r.sku.sku}: temp disk ${r.sku.tempDisk}${r.sku.letter ? ` (${r.sku.letter})` : ''}` : ''}`;
  const body = formatPlan({ changes: r.changes as never, warnings: r.warnings, notes: r.notes });
  const tail: string[] = [];
  if (r.report) {
    for (const h of r.report.hives) tail.push(`saved ${h.hive} (backup ${h.backup})`);
    for (const d of r.report.deferred) tail.push(`first-boot script ${d.name} left for the vda/ runner`);
  }
  return [head, body, ...tail].join('\n');
}
