import t from 'tap';
import { validateComponentOptions, type ComponentOptions } from '../../vda/options.js';

const ok = (o: ComponentOptions) => validateComponentOptions(o);
const code = (o: ComponentOptions) => {
  try {
    validateComponentOptions(o);
    return 'none';
  } catch (e) {
    return (e as { code: string }).code;
  }
};

t.test('controllers: space, semicolon or comma separated FQDNs, normalised to spaces', async (t) => {
  const r = ok({ xdReconfigure: [{ parameterName: 'controllers', parameterValue: 'ddc1.corp.example.com;ddc2.corp.example.com  ddc1.corp.example.com,cc3.corp.example.com' }] });
  t.same(r.reconfigure?.controllers, ['ddc1.corp.example.com', 'ddc2.corp.example.com', 'cc3.corp.example.com']);
  t.same(r.reconfigure?.parameters, [{ name: 'controllers', value: 'ddc1.corp.example.com ddc2.corp.example.com cc3.corp.example.com' }]);
  t.equal(code({ xdReconfigure: [{ parameterName: 'controllers', parameterValue: 'ddc1.corp.example.com bad_host!' }] }), 'VDA_OPTION_INVALID');
  t.equal(code({ xdReconfigure: [{ parameterName: 'controllers', parameterValue: ' ; ' }] }), 'VDA_OPTION_INVALID');
  t.equal(code({ xdReconfigure: [{ parameterName: 'controllers', parameterValue: '-bad.example.com' }] }), 'VDA_OPTION_INVALID');
});

t.test('site_guid is a GUID and excludes controllers', async (t) => {
  t.equal(ok({ xdReconfigure: [{ parameterName: 'site_guid', parameterValue: 'A1B2C3D4-0000-1111-2222-333344445555' }] }).reconfigure?.siteGuid, '{a1b2c3d4-0000-1111-2222-333344445555}');
  t.equal(code({ xdReconfigure: [{ parameterName: 'site_guid', parameterValue: 'not-a-guid' }] }), 'VDA_OPTION_INVALID');
  const both = code({
    xdReconfigure: [
      { parameterName: 'controllers', parameterValue: 'ddc1.corp.example.com' },
      { parameterName: 'site_guid', parameterValue: '{a1b2c3d4-0000-1111-2222-333344445555}' },
    ],
  });
  t.equal(both, 'VDA_OPTION_CONFLICT');
  t.equal(code({ xdReconfigure: [{ parameterName: 'portnumber', parameterValue: '80' }] }), 'VDA_OPTION_INVALID', 'one of controllers/site_guid is required');
  t.equal(code({ xdReconfigure: [] }), 'VDA_OPTION_INVALID');
});

t.test('ports 1..65535, WEM parameters', async (t) => {
  const base = { parameterName: 'controllers', parameterValue: 'ddc1.corp.example.com' };
  t.equal(ok({ xdReconfigure: [base, { parameterName: 'portnumber', parameterValue: '443' }] }).reconfigure?.port, 443);
  for (const bad of ['0', '65536', '-1', '80a', '']) {
    t.equal(code({ xdReconfigure: [base, { parameterName: 'portnumber', parameterValue: bad }] }), 'VDA_OPTION_INVALID', `port ${JSON.stringify(bad)}`);
  }
  const wem = ok({
    xdReconfigure: [
      base,
      { parameterName: 'wem_agent_port', parameterValue: '8286' },
      { parameterName: 'wem_cached_data_sync_port', parameterValue: '8288' },
      { parameterName: 'wem_cloud_connectors', parameterValue: 'cc1.corp.example.com;cc2.corp.example.com' },
      { parameterName: 'wem_server', parameterValue: 'wem.corp.example.com' },
      { parameterName: 'enable_hdx_ports' },
    ],
  });
  t.same(wem.reconfigure?.parameters.slice(1), [
    { name: 'wem_agent_port', value: '8286' },
    { name: 'wem_cached_data_sync_port', value: '8288' },
    { name: 'wem_cloud_connectors', value: 'cc1.corp.example.com cc2.corp.example.com' },
    { name: 'wem_server', value: 'wem.corp.example.com' },
    { name: 'enable_hdx_ports' },
  ]);
  t.equal(code({ xdReconfigure: [base, { parameterName: 'wem_agent_port', parameterValue: '99999' }] }), 'VDA_OPTION_INVALID');
  t.equal(code({ xdReconfigure: [base, { parameterName: 'wem_server', parameterValue: 'a b' }] }), 'VDA_OPTION_INVALID');
});

t.test('installer parameter names and values cannot inject', async (t) => {
  const base = { parameterName: 'controllers', parameterValue: 'ddc1.corp.example.com' };
  t.equal(code({ xdReconfigure: [base, { parameterName: 'x" & calc', parameterValue: '1' }] }), 'VDA_OPTION_INVALID');
  t.equal(code({ xdReconfigure: [base, { parameterName: 'components', parameterValue: "a'; Remove-Item C:\\" }] }), 'VDA_OPTION_INVALID');
  t.equal(code({ xdReconfigure: [base, { parameterName: 'noreboot' }] }), 'VDA_OPTION_INVALID', 'reserved switches');
  t.equal(code({ xdReconfigure: [base, base] }), 'VDA_OPTION_INVALID', 'duplicates');
  t.equal(ok({ xdReconfigure: [base, { parameterName: '/Components', parameterValue: 'VDA,PLUGINS' }] }).reconfigure?.parameters[1]?.name, 'components');
});

t.test('provisioning type rules', async (t) => {
  t.equal(code({ provisioningType: 'Foo' as 'Mcs' }), 'VDA_OPTION_INVALID');
  t.equal(code({ provisioningType: 'Pvs', installMcsio: true }), 'VDA_OPTION_CONFLICT', 'Pvs forbids installMcsio');
  t.equal(code({ installMcsio: true }), 'VDA_OPTION_CONFLICT', 'installMcsio requires Mcs');
  t.equal(code({ installMisa: true }), 'VDA_OPTION_CONFLICT', 'installMisa requires Mcs');
  t.equal(code({ installMisa: true, uninstallMisa: true, provisioningType: 'Mcs' }), 'VDA_OPTION_CONFLICT');
  t.same(ok({ provisioningType: 'Mcs', installMisa: true, installMcsio: true }), { provisioningType: 'Mcs', misa: 'install', mcsio: true });
  t.same(ok({ installPvs: '2203.0.4000' }), { provisioningType: 'Pvs', mcsio: false, pvsVersion: '2203.0.4000' });
  t.equal(code({ installPvs: '2203; calc' }), 'VDA_OPTION_INVALID');
  t.equal(code({ installPvs: '2203.0.4000', provisioningType: 'Mcs' }), 'VDA_OPTION_CONFLICT');
  t.equal(code({ installMisa: 'yes' as unknown as boolean }), 'VDA_OPTION_INVALID');
});
