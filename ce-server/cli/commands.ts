/**
 * The domain CLIs. Each domain exports `registerCommands(program)` from its own `cli.ts`
 * (disk/cli.ts, disk/hive/cli.ts, network/smb/cli.ts, …); add one entry here to plug it in: the
 * top-level command names it registers and a lazy import of its cli.ts.
 *
 * Why lazy: some domain CLIs pull in heavy modules when imported (TLS, mounting, boot drivers),
 * which costs ~0.3 s of start-up on every `ce` run. `ce convert …` only loads the domain that owns
 * `convert`; `ce --help` and unknown commands load them all. test/ce-server/cli-commands.test.ts
 * checks that each list matches what the domain really registers.
 */
import type { Command } from 'commander';

export type RegisterCommands = (program: Command) => void;

export interface DomainCli {
  /** The top-level commands this domain's registerCommands adds. */
  commands: readonly string[];
  load(): Promise<{ registerCommands: RegisterCommands }>;
}

export const domainCommands: DomainCli[] = [
  { commands: ['info', 'check', 'compare', 'convert'], load: () => import('../../disk/cli.js') },
  { commands: ['hive'], load: () => import('../../disk/hive/cli.js') },
  { commands: ['inspect', 'prepare'], load: () => import('../../disk/windows/cli.js') },
  { commands: ['smb'], load: () => import('../../network/smb/cli.js') },
  { commands: ['isolation'], load: () => import('../../network/isolation/cli.js') },
  { commands: ['vda'], load: () => import('../../vda/cli.js') },
];

/**
 * The domains to load for a command line: only the owner of the command word when one owns it,
 * none for the program's own commands (`builtIn`: version, serve, job), else every domain (help,
 * typos: commander then sees the full program).
 */
export function domainsFor(args: readonly string[], builtIn: readonly string[] = [], all: readonly DomainCli[] = domainCommands): DomainCli[] {
  const word = args.find((a) => !a.startsWith('-'));
  if (word !== undefined && builtIn.includes(word)) return [];
  const owners = word === undefined ? [] : all.filter((d) => d.commands.includes(word));
  return owners.length ? owners : [...all];
}
