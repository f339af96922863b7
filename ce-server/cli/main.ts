#!/usr/bin/env node
/**
 * `ce`: the command line of the Compositing Engine. `ce serve` runs the HTTPS service; the
 * domain modules add their commands (info, convert, hive, inspect, prepare…) through
 * ce-server/cli/commands.ts. Every subcommand has --help and --json.
 */
import { Command, Option } from 'commander';
import { VERSION } from '../version.js';
import { domainCommands, domainsFor, type DomainCli } from './commands.js';
import { runCommand, printResult } from '../../core/cli-kit.js';
import { CONFIG_KEYS } from '../config.js';

// The libuv threadpool size (fs and zlib share it) is set by bin/ce.cjs before the pool starts;
// setting it here would be too late (an ES module entry has started the pool already).

/** Top-level commands of the program itself (no domain CLI needed to run them). */
const BUILT_IN = ['version', 'serve'];
/** `ce job …` (the TLS client) is loaded like a domain: only when asked for, or for the full help. */
const JOB_CLI: DomainCli = { commands: ['job'], load: async () => ({ registerCommands: (await import('./job-commands.js')).registerJobCommands }) };

/**
 * The `ce` program. With `args` (the command line after `node ce`), only the domain CLIs that
 * command needs are loaded (start-up time); without, every domain (the full help).
 */
export async function buildProgram(args?: readonly string[]): Promise<Command> {
  const program = new Command('ce')
    .description('Compositing Engine: convert, inspect and prepare Windows disk images, and serve jobs over HTTPS.')
    .version(VERSION, '-v, --version-flag', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: true });

  program
    .command('version')
    .description('print the CE version')
    .option('--json', 'JSON output')
    .action(async (opts: { json?: boolean }) =>
      runCommand(opts, async () => printResult({ version: VERSION, node: process.version }, opts, (v) => `ce ${v.version} (node ${v.node})`)),
    );

  const serve = program
    .command('serve')
    .description('run the HTTPS job service (mutual TLS). On first run creates a local CA, server and client certificates under <data-dir>/tls.')
    .option('--json', 'print the start-up summary as JSON');
  for (const k of CONFIG_KEYS) {
    const o = new Option(`--${k.flag} <${k.arg}>`, `${k.help} [env ${k.env}]${k.default !== undefined ? ` (default: ${k.default})` : ''}`);
    serve.addOption(o);
  }
  serve.action(async (opts: Record<string, string | boolean | undefined>) => {
    const { serveCommand } = await import('../server/serve.js');
    await runCommand({ json: Boolean(opts.json) }, () => serveCommand(opts));
  });

  const all = [JOB_CLI, ...domainCommands];
  const domains = args ? domainsFor(args, BUILT_IN, all) : all;
  for (const m of await Promise.all(domains.map((d) => d.load()))) m.registerCommands(program);
  return program;
}

const isMain = process.argv[1] && /cli[/\\]main\.(ts|js)$/.test(process.argv[1]) || process.argv[1]?.endsWith('/ce.cjs') || process.argv[1]?.endsWith('/ce');
if (isMain) {
  await (await buildProgram(process.argv.slice(2))).parseAsync(process.argv);
}
