/**
 * External tools (qemu-img, ntfs-3g, losetup, hivexsh, smbd…) are run through execa with an
 * argument array (never a shell string), and a missing tool is a typed error that names the
 * Debian package to install.
 */
import { execa, type Options as ExecaOptions } from 'execa';
import { CeError } from './errors.js';

/** Debian package that provides each tool we call. scripts/setup.sh installs the same list. */
export const TOOL_PACKAGES: Record<string, string> = {
  'qemu-img': 'qemu-utils',
  'qemu-system-x86_64': 'qemu-system-x86',
  'ntfs-3g': 'ntfs-3g',
  mkntfs: 'ntfs-3g',
  ntfsinfo: 'ntfs-3g',
  ntfsfix: 'ntfs-3g',
  'ntfs-3g.probe': 'ntfs-3g',
  ntfscat: 'ntfs-3g',
  hivexml: 'libhivex-bin',
  mdir: 'mtools',
  mmd: 'mtools',
  fuser: 'psmisc',
  keyctl: 'keyutils',
  losetup: 'mount',
  mount: 'mount',
  umount: 'mount',
  hivexsh: 'libhivex-bin',
  hivexget: 'libhivex-bin',
  smbd: 'samba',
  smbpasswd: 'samba',
  smbclient: 'smbclient',
  mcopy: 'mtools',
  mformat: 'mtools',
  sfdisk: 'fdisk',
  nft: 'nftables',
  ip: 'iproute2',
  packer: 'packer',
  'x86_64-w64-mingw32-gcc': 'gcc-mingw-w64-x86-64',
};

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Run a tool and return its output. Throws TOOL_MISSING if it is not installed and
 * `failCode` (default TOOL_FAILED) with stderr in details when it exits non-zero.
 */
export async function runTool(
  tool: string,
  args: string[],
  opts: ExecaOptions & { failCode?: string; failHint?: string; allowFailure?: boolean } = {},
): Promise<RunResult> {
  const { failCode, failHint, allowFailure, ...execaOpts } = opts;
  try {
    const r = await execa(tool, args, { reject: false, stripFinalNewline: true, ...execaOpts, encoding: 'utf8' });
    if ((r as { failed?: boolean }).failed && (r as { code?: string }).code === 'ENOENT') throw missing(tool);
    const res: RunResult = { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? -1 };
    if (res.exitCode !== 0 && !allowFailure) {
      throw new CeError(failCode ?? 'TOOL_FAILED', `${tool} failed (exit ${res.exitCode}): ${firstLine(res.stderr || res.stdout)}`, {
        hint: failHint,
        status: 500,
        details: { tool, args, exitCode: res.exitCode, stderr: res.stderr.slice(-4000) },
      });
    }
    return res;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw missing(tool);
    throw e;
  }
}

function missing(tool: string): CeError {
  const pkg = TOOL_PACKAGES[tool];
  return new CeError('TOOL_MISSING', `The tool ${tool} is not installed.`, {
    hint: pkg ? `Install it: apt-get install -y ${pkg} (or run npm run setup as root).` : `Install ${tool}.`,
    status: 500,
  });
}

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim()) ?? '';
}

/** Whether a tool is on PATH (for tests that skip with a message and for `GET /v1/health`). */
export async function hasTool(tool: string): Promise<boolean> {
  const r = await execa('sh', ['-c', `command -v "$0"`, tool], { reject: false });
  return r.exitCode === 0;
}
