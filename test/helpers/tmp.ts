/** A temp directory per test, removed in teardown. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Teardownable {
  teardown(fn: () => unknown): void;
}

export async function tempDir(t: Teardownable, prefix = 'ce-test-'): Promise<string> {
  const dir = await mkdtemp(join(process.env.CE_TEST_TMP ?? tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
