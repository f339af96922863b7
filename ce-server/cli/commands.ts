/**
 * The domain CLIs. Each domain exports `registerCommands(program)` from its own `cli.ts`
 * (disk/cli.ts, disk/hive/cli.ts, network/smb/cli.ts, …); add one line here to plug it in.
 */
import type { Command } from 'commander';
import { registerCommands as isolationCommands } from '../../network/isolation/cli.js';

export type RegisterCommands = (program: Command) => void;

export const domainCommands: RegisterCommands[] = [isolationCommands];
