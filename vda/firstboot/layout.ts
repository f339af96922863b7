/**
 * The on-disk layout and naming of the first-boot runner (windows.md §2.3, the virt-v2v design
 * re-implemented). Everything lives in one directory on the Windows volume:
 *
 *   Program Files\CitrixCE\Firstboot\
 *     cefirstboot.exe        the service host (vda/firstboot/host/cefirstboot.c)
 *     scripts\NNNN-NNNN-name.bat   pending scripts, run in lexical order
 *     scripts-done\          scripts that ran (moved by the host)
 *     Temp\NNNN-NNNN-name.ps1      the PowerShell each .bat wraps
 *     results\name.json      written by each script; results\name.exit written by the host
 *     log.txt                the host's log (the scripts append their own lines)
 *     complete               sentinel: every script ran, the service removed itself
 *   Program Files\CitrixCE\Components\   staged installers (vda/staging.ts)
 */

/** Relative to the volume root, with forward slashes (for the mounted volume on the CE). */
export const CE_DIR = 'Program Files/CitrixCE';
export const FIRSTBOOT_DIR = `${CE_DIR}/Firstboot`;
export const COMPONENTS_DIR = `${CE_DIR}/Components`;

/** The same directories as Windows paths (system drive assumed C:, see windowsPath()). */
export const FIRSTBOOT_WINDIR = 'C:\\Program Files\\CitrixCE\\Firstboot';
export const COMPONENTS_WINDIR = 'C:\\Program Files\\CitrixCE\\Components';

export const SUBDIRS = { scripts: 'scripts', done: 'scripts-done', temp: 'Temp', results: 'results' } as const;
export const HOST_EXE = 'cefirstboot.exe';
export const LOG_FILE = 'log.txt';
export const COMPLETE_FILE = 'complete';

/** The service name under ControlSet00N\Services. */
export const SERVICE_NAME = 'CitrixCEFirstboot';
export const SERVICE_DISPLAY_NAME = 'Citrix CE first-boot runner';

/** The runner .bat exit-code protocol (windows.md §2.3). */
export const EXIT_RETRY = 249;
export const EXIT_NO_REBOOT = 250;

/** Default priority of a script (virt-v2v's 5000); the final shutdown runs last. */
export const PRIORITY = {
  unjoinBefore: 1000,
  pvs: 3000,
  misa: 3500,
  mcsio: 3600,
  reconfigure: 4000,
  default: 5000,
  unjoin: 8000,
  shutdown: 9999,
} as const;

/** virt-v2v's sanitising: keep letters, digits, '-' and '_'; everything else becomes '-'. */
export function sanitizeScriptName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
  return s.length ? s : 'script';
}

/** `%04d-%04d-<name>` (priority, then a counter that keeps equal priorities in insertion order). */
export function scriptBaseName(priority: number, counter: number, name: string): string {
  if (!Number.isInteger(priority) || priority < 0 || priority > 9999) throw new RangeError(`script priority ${priority} is outside 0..9999`);
  if (!Number.isInteger(counter) || counter < 0 || counter > 9999) throw new RangeError(`script counter ${counter} is outside 0..9999`);
  return `${String(priority).padStart(4, '0')}-${String(counter).padStart(4, '0')}-${sanitizeScriptName(name)}`;
}

/** Text for Windows: CRLF line ends, exactly one at the end. */
export function crlf(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(/\n*$/, '\n').replace(/\n/g, '\r\n');
}
