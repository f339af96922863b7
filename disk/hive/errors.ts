/** Typed errors of the hive reader/writer: every corruption or misuse is a CeError with a HIVE_* code. */
import { CeError } from '../../core/errors.js';

export function hiveError(code: string, message: string, details?: Record<string, unknown>, hint?: string): CeError {
  return new CeError(code, message, {
    details,
    hint: hint ?? (code === 'HIVE_KEY_NOT_FOUND' || code === 'HIVE_VALUE_NOT_FOUND' ? 'Check the key path (backslash-separated, relative to the hive root).' : 'The hive file is damaged or not a registry hive; run `ce hive check` on it.'),
    status: code.endsWith('NOT_FOUND') ? 404 : 422,
  });
}
