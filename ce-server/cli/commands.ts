/**
 * The domain CLIs. Each domain exports `registerCommands(program)` from its own `cli.ts`
 * (disk/cli.ts, disk/hive/cli.ts, network/smb/cli.ts, …); add one line here to plug it in.
 */
import type { Command } from 'commander';
import { registerCommands as hiveCommands } from '../../disk/hive/cli.js';
import { registerCommands as windowsCommands } from '../../disk/windows/cli.js';
import { registerCommands as smbCommands } from '../../network/smb/cli.js';
import { registerCommands as vdaCommands } from '../../vda/cli.js';

export type RegisterCommands = (program: Command) => void;

export const domainCommands: RegisterCommands[] = [hiveCommands, windowsCommands, smbCommands, vdaCommands];
