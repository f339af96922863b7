import t from 'tap';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { tempDir } from '../helpers/tmp.js';
import { planScripts, writeRunner } from '../../vda/firstboot/runner.js';
import {
  domainUnjoinScript,
  mcsioInstallScript,
  misaInstallScript,
  misaUninstallScript,
  psQuote,
  pvsInstallScript,
  shutdownScript,
  vdaReconfigureScript,
} from '../../vda/firstboot/scripts.js';
import { FIRSTBOOT_DIR, crlf, scriptBaseName, sanitizeScriptName } from '../../vda/firstboot/layout.js';
import { ensureHostBuilt } from '../helpers/vda-host.js';

t.test('names, order and CRLF', async (t) => {
  t.equal(scriptBaseName(4000, 1, 'vda reconfigure!'), '4000-0001-vda-reconfigure');
  t.equal(sanitizeScriptName('..\\..\\evil'), 'evil');
  t.throws(() => scriptBaseName(10000, 1, 'x'));
  t.equal(crlf('a\nb\r\nc\n\n'), 'a\r\nb\r\nc\r\n');
  const planned = planScripts([shutdownScript(), domainUnjoinScript(), vdaReconfigureScript([{ name: 'controllers', value: 'a.example.com' }]), pvsInstallScript('2203.0.4000'), misaInstallScript(), mcsioInstallScript()]);
  t.same(
    planned.map((p) => p.baseName),
    ['3000-0001-pvs-target-install', '3500-0002-misa-install', '3600-0003-mcsio-install', '4000-0004-vda-reconfigure', '8000-0005-domain-unjoin', '9999-0006-shutdown'],
  );
  for (const p of planned) {
    for (const f of [p.bat.content, p.ps1.content]) {
      t.notMatch(f, /[^\r]\n/, `${p.baseName}: every line ends with CRLF`);
      t.ok(f.endsWith('\r\n'));
    }
    t.match(p.bat.content, `powershell.exe -ExecutionPolicy ByPass -NoProfile -NonInteractive -File "%~dp0..\\Temp\\${p.baseName}.ps1"`);
    t.match(p.bat.content, /exit %ERRORLEVEL%\r\n$/);
    t.match(p.ps1.content, '$CeName = [System.IO.Path]::GetFileNameWithoutExtension($PSCommandPath)');
  }
});

t.test('script contents follow the protocol', async (t) => {
  const vda = vdaReconfigureScript([
    { name: 'controllers', value: 'ddc1.corp.example.com ddc2.corp.example.com' },
    { name: 'portnumber', value: '443' },
    { name: 'enable_hdx_ports' },
  ]).body;
  t.match(vda, `$vdaArgs = @('/reconfigure', '/quiet', '/noreboot', '/logpath', $logDir, '/controllers', 'ddc1.corp.example.com ddc2.corp.example.com', '/portnumber', '443', '/enable_hdx_ports')`);
  t.match(vda, /Exit-Ce 'retry' .* 249/);
  t.match(vda, /XenDesktopVdaSetup\.exe/);
  t.match(misaInstallScript('misa.msi').body, /msiexec\.exe' \('\/i "' \+ \$msi/);
  t.match(misaInstallScript('misa.msi').body, /'unchanged' .* 250/, 'already installed is a no-op without reboot');
  t.match(misaUninstallScript().body, /\/x ' \+ \$e\.Key/);
  t.match(mcsioInstallScript().body, /CVhdFilter/);
  t.match(pvsInstallScript('2203.0.4000', 'PVS_Device_x64.exe').body, /\/s \/v"\/qn REBOOT=ReallySuppress/);
  t.match(domainUnjoinScript().body, /Remove-Computer -WorkgroupName 'WORKGROUP' -Force/);
  t.throws(() => domainUnjoinScript('bad name; x'));
  t.match(shutdownScript().body, /shutdown\.exe \/s \/t 15[\s\S]*250/);
  t.equal(psQuote("it's"), "'it''s'");
});

t.test('the service host builds with mingw-w64 and is a valid PE32+ service executable', async (t) => {
  const exe = await ensureHostBuilt();
  const f = await execa('file', ['-b', exe]);
  t.match(f.stdout, /PE32\+ executable \(console\) x86-64.*MS Windows/);
  const buf = await readFile(exe);
  t.equal(buf.toString('latin1', 0, 2), 'MZ');
  const pe = buf.readUInt32LE(0x3c);
  t.equal(buf.toString('latin1', pe, pe + 4), 'PE\0\0');
  t.equal(buf.readUInt16LE(pe + 4), 0x8664, 'machine AMD64');
  const optSize = buf.readUInt16LE(pe + 20);
  t.ok(optSize >= 240);
  const opt = pe + 24;
  t.equal(buf.readUInt16LE(opt), 0x20b, 'optional header magic PE32+');
  t.equal(buf.readUInt16LE(opt + 68), 3, 'subsystem: Windows CUI');
  t.equal(buf.readUInt32LE(pe + 8), 0, 'no timestamp (reproducible build)');
  const text = buf.toString('latin1');
  for (const imp of ['StartServiceCtrlDispatcherW', 'RegisterServiceCtrlHandlerExW', 'DeleteService', 'InitiateSystemShutdownExW', 'CreateProcessW', 'ADVAPI32.dll']) {
    t.ok(text.includes(imp), `imports ${imp}`);
  }
  t.ok(buf.length < 200 * 1024, 'small');
});

t.test('writeRunner lays out the runner on a volume and refuses a leftover one', async (t) => {
  const vol = await tempDir(t);
  const hostExe = await ensureHostBuilt();
  const planned = planScripts([vdaReconfigureScript([{ name: 'controllers', value: 'a.example.com' }]), shutdownScript()]);
  const written = await writeRunner(vol, planned, { hostExe });
  t.same(written, [
    `${FIRSTBOOT_DIR}/cefirstboot.exe`,
    `${FIRSTBOOT_DIR}/Temp/4000-0001-vda-reconfigure.ps1`,
    `${FIRSTBOOT_DIR}/scripts/4000-0001-vda-reconfigure.bat`,
    `${FIRSTBOOT_DIR}/Temp/9999-0002-shutdown.ps1`,
    `${FIRSTBOOT_DIR}/scripts/9999-0002-shutdown.bat`,
  ]);
  t.same((await readdir(join(vol, FIRSTBOOT_DIR))).sort(), ['Temp', 'cefirstboot.exe', 'results', 'scripts', 'scripts-done']);
  await t.rejects(writeRunner(vol, planned, { hostExe }), { code: 'FIRSTBOOT_RUNNER_PRESENT' });
  const other = await tempDir(t);
  await t.rejects(writeRunner(other, planned, { hostExe: '/nonexistent.exe' }), { code: 'FIRSTBOOT_HOST_MISSING' });
});
