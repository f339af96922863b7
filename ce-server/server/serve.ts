import { CeError } from '../../core/errors.js';
export async function serveCommand(_opts: Record<string, unknown>): Promise<void> {
  throw new CeError('NOT_IMPLEMENTED', 'serve is being built');
}
