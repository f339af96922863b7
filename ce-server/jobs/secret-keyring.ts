/**
 * The credentials of running jobs, kept in the Linux kernel keyring so that a CE restarted after a
 * crash can resume the job (or clean up what it left on a share) instead of losing them.
 * The kernel keyring is kernel memory: never written to disk, never swapped, gone at reboot; the
 * job store and the logs still see only `[redacted]`. Keys live in root's user keyring (`@u`),
 * readable by the CE's uid only, expire after `ttlSeconds`, and are unlinked when the job ends.
 * Where keyctl (Debian keyutils) is missing or the keyring is refused (a seccomp profile), the CE
 * works as before: credentials are then lost on restart and such jobs end `interrupted`.
 * The payload goes to keyctl on stdin, never on a command line.
 */
import { execa } from 'execa';
import type { Logger } from 'pino';

// possessor: all; user (our uid): view, read, search. A system service has a private session
// keyring, so after a restart the CE is not the keys' "possessor" and reads them as their user.
const PERM = '0x3f0b0000';
const MAX_PAYLOAD = 32_000; // "user" keys hold at most 32 KiB

export class SecretKeyring {
  private available: Promise<boolean> | undefined;

  constructor(
    private readonly log: Logger,
    private readonly opts: { enabled: boolean; ttlSeconds?: number; namespace?: string } = { enabled: true },
  ) {}

  /** Keep the job's full options (secrets included) until forget() or the TTL. */
  async keep(jobId: string, options: Record<string, unknown>): Promise<boolean> {
    if (!(await this.usable())) return false;
    const payload = JSON.stringify(options);
    if (Buffer.byteLength(payload) > MAX_PAYLOAD) return false;
    try {
      const id = String((await execa('keyctl', ['padd', 'user', this.name(jobId), '@u'], { input: payload })).stdout).trim();
      await execa('keyctl', ['setperm', id, PERM]);
      await execa('keyctl', ['timeout', id, String(this.opts.ttlSeconds ?? 7 * 24 * 3600)]);
      return true;
    } catch (e) {
      this.log.warn({ jobId, err: keyctlError(e) }, 'could not keep the job credentials in the kernel keyring; they are lost if the CE restarts');
      return false;
    }
  }

  /** The options kept for this job, if the keyring still holds them. */
  async recall(jobId: string): Promise<Record<string, unknown> | undefined> {
    if (!(await this.usable())) return undefined;
    const id = await this.find(jobId);
    if (!id) return undefined;
    try {
      return JSON.parse(String((await execa('keyctl', ['pipe', id], { stripFinalNewline: false })).stdout)) as Record<string, unknown>;
    } catch (e) {
      this.log.warn({ jobId, err: keyctlError(e) }, 'the job credentials in the kernel keyring are unreadable');
      return undefined;
    }
  }

  async forget(jobId: string): Promise<void> {
    if (!(await this.usable())) return;
    const id = await this.find(jobId);
    if (id) await execa('keyctl', ['unlink', id, '@u'], { reject: false });
  }

  private name(jobId: string): string {
    return `ce:${this.opts.namespace ?? 'job'}:${jobId}`;
  }

  private async find(jobId: string): Promise<string | undefined> {
    const r = await execa('keyctl', ['search', '@u', 'user', this.name(jobId)], { reject: false });
    return r.exitCode === 0 ? String(r.stdout).trim() : undefined;
  }

  private usable(): Promise<boolean> {
    this.available ??= (async () => {
      if (!this.opts.enabled) return false;
      const r = await execa('keyctl', ['show', '@u'], { reject: false });
      if (r.exitCode !== 0) {
        this.log.warn({ reason: keyctlError(r) }, 'the kernel keyring is not usable (install keyutils); credentials of running jobs will not survive a restart');
        return false;
      }
      return true;
    })();
    return this.available;
  }
}

function keyctlError(e: unknown): string {
  const r = e as { code?: string; stderr?: unknown; message?: string };
  return r.code === 'ENOENT' ? 'keyctl not found' : String(r.stderr || r.message || e).trim().slice(0, 200);
}
