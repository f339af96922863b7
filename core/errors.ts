/**
 * The one error type of the CE. Every module throws CeError with a stable `code`
 * (UPPER_SNAKE, prefixed by its domain: VHD_*, HIVE_*, SMB_*, SKU_*, JOB_*…), an HTTP status
 * for the API, a message that says what happened and a hint that says what to do.
 * The API and the CLI show code, message, hint and details; never a stack trace.
 */
export interface CeErrorOptions {
  /** What the user can do about it. */
  hint?: string;
  /** HTTP status when this reaches the API. Default 422 for input problems, see below. */
  status?: number;
  /** Machine-readable detail (offsets, sizes, paths, validation errors). Never secrets. */
  details?: unknown;
  cause?: unknown;
}

export class CeError extends Error {
  readonly code: string;
  readonly status: number;
  readonly hint?: string;
  readonly details?: unknown;

  constructor(code: string, message: string, opts: CeErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CeError';
    this.code = code;
    this.status = opts.status ?? 422;
    this.hint = opts.hint;
    this.details = opts.details;
  }

  /** The client-facing form: no stack, no cause chain. */
  toJSON(): { code: string; message: string; hint?: string; details?: unknown } {
    const out: { code: string; message: string; hint?: string; details?: unknown } = {
      code: this.code,
      message: this.message,
    };
    if (this.hint !== undefined) out.hint = this.hint;
    if (this.details !== undefined) out.details = this.details;
    return out;
  }
}

export function isCeError(e: unknown): e is CeError {
  return e instanceof CeError;
}

/** Turn anything thrown into a CeError; unknown errors become INTERNAL (500) and keep the cause for the log. */
export function toCeError(e: unknown): CeError {
  if (e instanceof CeError) return e;
  const err = e as NodeJS.ErrnoException | undefined;
  if (err && typeof err === 'object' && typeof err.code === 'string') {
    const byErrno: Record<string, [string, string, number]> = {
      ENOENT: ['FILE_NOT_FOUND', 'Check the path.', 404],
      EACCES: ['PERMISSION_DENIED', 'Run as a user that may open this path (loop devices and mounts need root).', 403],
      EPERM: ['PERMISSION_DENIED', 'Run as a user that may open this path (loop devices and mounts need root).', 403],
      ENOSPC: ['NO_SPACE', 'Free space on the target file system.', 507],
      EEXIST: ['ALREADY_EXISTS', 'Remove the existing file or pass the overwrite option.', 409],
      EISDIR: ['IS_A_DIRECTORY', 'Give a file path, not a directory.', 422],
      EROFS: ['READ_ONLY_FS', 'The target file system is read-only.', 422],
    };
    const m = byErrno[err.code];
    if (m) return new CeError(m[0], err.message, { hint: m[1], status: m[2], cause: e });
  }
  if (e instanceof Error && e.name === 'AbortError') {
    return new CeError('CANCELLED', 'The operation was cancelled.', { status: 409, cause: e });
  }
  const message = e instanceof Error ? e.message : String(e);
  return new CeError('INTERNAL', `Internal error: ${message}`, {
    status: 500,
    hint: 'This is a bug in the CE; the log has the details.',
    cause: e,
  });
}

/** Throw CANCELLED if the signal is aborted. Call at safe points of long work. */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new CeError('CANCELLED', 'The operation was cancelled.', { status: 409 });
  }
}
