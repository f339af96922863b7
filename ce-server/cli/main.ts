#!/usr/bin/env node
/**
 * `ce`: the command line of the Compositing Engine. `ce serve` runs the HTTPS service; the
 * domain modules add their commands (info, convert, hive, inspect, prepare…) through
 * ce-server/cli/commands.ts. Every subcommand has --help and --json.
 */
import { Command, Option } from 'commander';
import { VERSION } from '../version.js';
import { domainCommands } from './commands.js';
import { registerJobCommands } from './job-commands.js';
import { runCommand, printResult } from '../../core/cli-kit.js';
import { CONFIG_KEYS } from '../config.js';

// The libuv threadpool size (fs and zlib share it) is set by bin/ce.cjs before the pool starts;
// setting it here would be too late (an ES module entry has started the pool already).

export function buildProgram(): Command {
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

  registerJobCommands(program);
  for (const register of domainCommands) register(program);
  return program;
}

const isMain = process.argv[1] && /cli[/\\]main\.(ts|js)$/.test(process.argv[1]) || process.argv[1]?.endsWith('/ce.cjs') || process.argv[1]?.endsWith('/ce');
if (isMain) {
  await buildProgram().parseAsync(process.argv);
}
