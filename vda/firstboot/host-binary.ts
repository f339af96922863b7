/**
 * Where the built service host lives. `npm run build:windows` (scripts/build-windows.sh) compiles
 * vda/firstboot/host/cefirstboot.c with mingw-w64 into build/windows/ (not committed: it is a build
 * output, reproducible from the source in about a second). CE_FIRSTBOOT_HOST overrides the path.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function hostBinaryPath(): string {
  if (process.env.CE_FIRSTBOOT_HOST) return process.env.CE_FIRSTBOOT_HOST;
  // From the sources (vda/firstboot/) or from dist/vda/firstboot/.
  const candidates = ['../../build/windows/cefirstboot.exe', '../../../build/windows/cefirstboot.exe'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

export const HOST_SOURCE = fileURLToPath(new URL('./host/cefirstboot.c', import.meta.url));
