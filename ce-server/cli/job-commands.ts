/**
 * `ce job submit|status|watch|cancel|list|log`: a client of a CE over mutual TLS, for people and
 * scripts (--json). Defaults fit `npm start`: https://127.0.0.1:8443 with the identity in ./var/tls.
 */
import { Command, Option } from 'commander';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { CeClient, identityFromDir, type ClientIdentity } from '../client/api-client.js';
import { CeError } from '../../core/errors.js';
import { runCommand, printResult, createCliProgress, formatBytes, EXIT } from '../../core/cli-kit.js';
import type { JobRecord } from '../jobs/model.js';

interface ConnOpts {
  url?: string;
  tlsDir?: string;
  cert?: string;
  key?: string;
  ca?: string;
  json?: boolean;
}

function connection(o: ConnOpts): CeClient {
  const url = o.url ?? process.env.CE_URL ?? 'https://127.0.0.1:8443';
  let id: ClientIdentity;
  const read = (p: string, what: string) => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      throw new CeError('CLIENT_TLS_FILE_MISSING', `Cannot read the ${what} ${p}.`, { hint: 'Give --tls-dir, or --cert, --key and --ca.' });
    }
  };
  if (o.cert || o.key || o.ca) {
    if (!o.cert || !o.key || !o.ca) throw new CeError('USAGE', '--cert, --key and --ca go together.', { hint: 'Give all three, or --tls-dir.' });
    id = { cert: read(o.cert, 'client certificate'), key: read(o.key, 'client key'), ca: read(o.ca, 'CA certificate') };
  } else {
    const dir = o.tlsDir ?? process.env.CE_TLS_DIR ?? './var/tls';
    try {
      id = identityFromDir(dir);
    } catch {
      throw new CeError('CLIENT_TLS_FILE_MISSING', `No client identity in ${dir} (client.crt, client.key, ca.crt).`, {
        hint: 'Run `npm start` once to create it, or give --tls-dir / --cert --key --ca.',
      });
    }
  }
  return new CeClient(url, id);
}

function withConn(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'CE base URL [env CE_URL]').default(undefined, 'https://127.0.0.1:8443'))
    .addOption(new Option('--tls-dir <dir>', 'directory with client.crt, client.key, ca.crt [env CE_TLS_DIR]').default(undefined, './var/tls'))
    .option('--cert <pem>', 'client certificate')
    .option('--key <pem>', 'client private key')
    .option('--ca <pem>', 'CA certificate of the server')
    .option('--json', 'JSON output');
}

function describe(j: JobRecord): string {
  const lines = [`${j.id}  ${j.type}  ${j.state}${j.dryRun ? '  (dry run)' : ''}`];
  if (j.step) lines.push(`  step: ${j.step}`);
  if (j.progress?.bytesTotal) lines.push(`  progress: ${formatBytes(j.progress.bytesDone)} of ${formatBytes(j.progress.bytesTotal)}`);
  if (j.error) lines.push(`  error ${j.error.code}: ${j.error.message}`, ...(j.error.hint ? [`  hint: ${j.error.hint}`] : []));
  if (j.result !== undefined) lines.push(`  result: ${JSON.stringify(j.result, null, 2).replace(/\n/g, '\n  ')}`);
  return lines.join('\n');
}

/** Follow a job's events with a progress bar (JSON lines with --json); exit code from its final state. */
async function watch(client: CeClient, id: string, o: ConnOpts & { logs?: boolean }): Promise<void> {
  const bar = createCliProgress({ json: o.json, label: 'job' });
  let final: JobRecord['state'] | undefined;
  await client.events(`/v1/jobs/${id}/events`, (e) => {
    if (e.event === 'progress') bar.update(e.data as never);
    else if (e.event === 'log' && o.logs && !o.json) process.stderr.write(`${(e.data as { msg?: string }).msg ?? ''}\n`);
    else if (e.event === 'state') {
      final = (e.data as { state: JobRecord['state'] }).state;
      if (o.json) process.stdout.write(JSON.stringify({ event: 'state', ...(e.data as object) }) + '\n');
    }
  });
  bar.stop();
  const job = await client.json<JobRecord>('GET', `/v1/jobs/${id}`);
  printResult(job, { json: o.json }, describe);
  final = job.state;
  if (final === 'failed' || final === 'interrupted') process.exitCode = EXIT.FAILED;
  if (final === 'cancelled') process.exitCode = EXIT.CANCELLED;
}

export function registerJobCommands(program: Command): void {
  const job = program.command('job').description('talk to a running CE over mutual TLS: submit, watch, cancel jobs');

  withConn(job.command('submit').description('submit a job from a JSON file (or - for stdin)').argument('<file>', 'job JSON: {"type": …, …}'))
    .option('--idempotency-key <key>', 'same key + same body = same job')
    .option('--dry-run', 'report what would change, write nothing')
    .option('--watch', 'follow the job until it ends, with a progress bar')
    .option('--logs', 'with --watch: print the job\'s log lines')
    .action(async (file: string, o: ConnOpts & { idempotencyKey?: string; dryRun?: boolean; watch?: boolean; logs?: boolean }) =>
      runCommand(o, async () => {
        const text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch (e) {
          throw new CeError('JOB_FILE_INVALID', `The job file is not JSON: ${(e as Error).message}`, { hint: 'See GET /v1/openapi.json for the job body.' });
        }
        if (o.dryRun) body.dryRun = true;
        const client = connection(o);
        const created = await client.json<JobRecord>('POST', '/v1/jobs', body, o.idempotencyKey ? { 'idempotency-key': o.idempotencyKey } : {});
        if (o.watch) return watch(client, created.id, o);
        printResult(created, o, (j) => `submitted ${j.id} (${j.type}, ${j.state})`);
      }),
    );

  withConn(job.command('status').description('show a job').argument('<id>')).action(async (id: string, o: ConnOpts) =>
    runCommand(o, async () => printResult(await connection(o).json<JobRecord>('GET', `/v1/jobs/${encodeURIComponent(id)}`), o, describe)),
  );

  withConn(job.command('watch').description('follow a job until it ends (progress bar; exit 1 if it failed)').argument('<id>'))
    .option('--logs', 'print the job\'s log lines')
    .action(async (id: string, o: ConnOpts & { logs?: boolean }) => runCommand(o, () => watch(connection(o), encodeURIComponent(id), o)));

  withConn(job.command('cancel').description('cancel a job (it stops at the next safe point)').argument('<id>')).action(async (id: string, o: ConnOpts) =>
    runCommand(o, async () => printResult(await connection(o).json<JobRecord>('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`), o, describe)),
  );

  withConn(job.command('list').description('list jobs'))
    .option('--state <state>', 'only jobs in this state')
    .action(async (o: ConnOpts & { state?: string }) =>
      runCommand(o, async () => {
        const q = o.state ? `?state=${encodeURIComponent(o.state)}` : '';
        const r = await connection(o).json<{ jobs: JobRecord[] }>('GET', `/v1/jobs${q}`);
        printResult(r, o, (v) => v.jobs.map((j) => `${j.id}  ${j.type.padEnd(10)} ${j.state.padEnd(11)} ${j.createdAt}`).join('\n') || 'no jobs');
      }),
    );

  withConn(job.command('log').description('print a job\'s log (JSON lines, secrets redacted)').argument('<id>')).action(async (id: string, o: ConnOpts) =>
    runCommand(o, async () => {
      const r = await connection(o).request('GET', `/v1/jobs/${encodeURIComponent(id)}/log`);
      if (r.status !== 200) throw new CeError((r.body as { code?: string }).code ?? 'API_ERROR', `HTTP ${r.status}`);
      process.stdout.write(r.text);
    }),
  );
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
