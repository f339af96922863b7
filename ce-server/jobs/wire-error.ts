/** CeError across a thread boundary: structured clone keeps no class, so code, status and hint travel as data. */
import { CeError, toCeError } from '../../core/errors.js';
import type { WireError } from './thread-messages.js';

export function toWire(e: unknown): WireError {
  const err = toCeError(e);
  const cause = err.cause instanceof Error ? err.cause : err;
  return { code: err.code, message: err.message, status: err.status, hint: err.hint, details: err.details, stack: cause.stack };
}

export function fromWire(w: WireError): CeError {
  const cause = Object.assign(new Error(w.message), { stack: w.stack });
  return new CeError(w.code, w.message, { status: w.status, hint: w.hint, details: w.details, cause });
}
