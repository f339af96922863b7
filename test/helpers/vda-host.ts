/** Build the service host once per test process (npm run build:windows into a temp-free build dir). */
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { ROOT } from './cli.js';
import { hostBinaryPath } from '../../vda/firstboot/host-binary.js';

let built: Promise<string> | undefined;

export function ensureHostBuilt(): Promise<string> {
  built ??= (async () => {
    const p = hostBinaryPath();
    if (!existsSync(p)) await execa('bash', [`${ROOT}scripts/build-windows.sh`], { cwd: ROOT });
    return hostBinaryPath();
  })();
  return built;
}
