/**
 * Loop devices over a raw image or device range: `losetup -f --show -o <offset> --sizelimit <n> [-r]`.
 * The kernel here has no partition parsing, so each partition gets its own loop device.
 * Every attach is registered in the cleanup registry and detached in `finally` by the caller.
 */
import { runTool } from '../../core/tools.js';
import { register, type CleanupHandle } from './cleanup.js';

export interface LoopDevice {
  device: string;
  release(): Promise<void>;
}

export async function attachLoop(path: string, opts: { offset?: number; size?: number; readOnly?: boolean } = {}): Promise<LoopDevice> {
  const args = ['-f', '--show'];
  if (opts.offset) args.push('-o', String(opts.offset));
  if (opts.size) args.push('--sizelimit', String(opts.size));
  if (opts.readOnly) args.push('-r');
  args.push(path);
  const r = await runTool('losetup', args, {
    failCode: 'LOOP_ATTACH_FAILED',
    failHint: 'Loop devices need root and a free /dev/loopN (check `losetup -a`).',
  });
  const device = r.stdout.trim();
  const handle: CleanupHandle = register(`loop ${device}`, () => detachLoop(device));
  return { device, release: () => handle.release() };
}

export async function detachLoop(device: string): Promise<void> {
  // A busy device (a mount still closing) detaches lazily with -d; retry briefly.
  for (let i = 0; i < 5; i++) {
    const r = await runTool('losetup', ['-d', device], { allowFailure: true });
    if (r.exitCode === 0 || /No such device/i.test(r.stderr)) return;
    await new Promise((res) => setTimeout(res, 100 * (i + 1)));
  }
  await runTool('losetup', ['-d', device], { failCode: 'LOOP_DETACH_FAILED', failHint: `Detach it by hand: losetup -d ${device}` });
}
