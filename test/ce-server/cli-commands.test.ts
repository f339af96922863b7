import t from 'tap';
import { Command } from 'commander';
import { domainCommands, domainsFor } from '../../ce-server/cli/commands.js';
import { buildProgram } from '../../ce-server/cli/main.js';

// ce-server/cli/commands.ts loads a domain CLI only for its own commands: each declared list must
// be exactly what the domain registers, or a command would be missing from `ce <cmd>`.
t.test('each domain declares exactly the top-level commands it registers', async (t) => {
  for (const d of domainCommands) {
    const p = new Command('ce');
    (await d.load()).registerCommands(p);
    t.same(p.commands.map((c) => c.name()).sort(), [...d.commands].sort(), d.commands.join(','));
  }
});

t.test('no command is declared by two domains', async (t) => {
  const all = domainCommands.flatMap((d) => d.commands);
  t.equal(new Set(all).size, all.length);
});

t.test('a domain command loads its domain only; help and unknown words load all', async (t) => {
  t.same(domainsFor(['convert', 'a', 'b', '--to', 'vhd']).map((d) => d.commands), [['info', 'check', 'compare', 'convert']]);
  t.same(domainsFor(['--help']).length, domainCommands.length);
  t.same(domainsFor(['nope']).length, domainCommands.length);
  t.same(domainsFor(['version'], ['version']), []);
});

t.test('the full program and the per-command program agree on a command', async (t) => {
  const full = await buildProgram();
  const names = full.commands.map((c) => c.name());
  for (const n of domainCommands.flatMap((d) => d.commands)) t.ok(names.includes(n), n);
  const lean = await buildProgram(['convert', 'x', 'y']);
  t.same(
    lean.commands.find((c) => c.name() === 'convert')!.options.map((o) => o.flags),
    full.commands.find((c) => c.name() === 'convert')!.options.map((o) => o.flags),
  );
});
