/** The SKU catalogue: name parsing and temp-disk classes per platform (platforms.md §3.2). */
import t from 'tap';
import { parseAzureSku, resolveSku } from '../../pagefile/sku.js';

t.test('Azure names parse into family, vCPUs, features and version', async (t) => {
  t.match(parseAzureSku('Standard_D2s_v3'), { family: 'D', vcpus: 2, additive: 's', version: 3 });
  t.match(parseAzureSku('Standard_E4-2ads_v5'), { family: 'E', vcpus: 4, constrained: 2, additive: 'ads', version: 5 });
  t.match(parseAzureSku('Standard_DS2_v2'), { family: 'D', additive: 's', version: 2 });
  t.match(parseAzureSku('Standard_B2ms'), { family: 'B', additive: 'ms', version: 1 });
  t.match(parseAzureSku('Standard_NC24ads_A100_v4'), { family: 'NC', additive: 'ads', accelerator: 'A100', version: 4 });
  t.equal(parseAzureSku('D2s_v3'), undefined);
});

t.test('Azure temp-disk classes', async (t) => {
  const cases: Array<[string, string]> = [
    ['Standard_D2s_v3', 'formatted'], // the CE default: temp disk D:
    ['Standard_DS2_v2', 'formatted'], // pre-v4 without d
    ['Standard_B2ms', 'formatted'], // B v1
    ['Standard_F4s_v2', 'formatted'],
    ['Standard_E8s_v3', 'formatted'],
    ['Standard_D4s_v4', 'none'], // v4+ without d
    ['Standard_D4s_v5', 'none'],
    ['Standard_D4ds_v4', 'formatted'], // v4+ with d
    ['Standard_D4ads_v5', 'formatted'],
    ['Standard_E4-2ds_v5', 'formatted'],
    ['Standard_D4as_v4', 'formatted'], // listed exception Dasv4
    ['Standard_B2als_v2', 'none'], // Bv2
    ['Standard_D4s_v6', 'none'],
    ['Standard_D4ds_v6', 'raw'], // v6 d: raw NVMe
  ];
  for (const [sku, want] of cases) t.equal(resolveSku('azure', sku).tempDisk, want, sku);
  t.equal(resolveSku('azure', 'Standard_D2s_v3').letter, 'D:');
  t.throws(() => resolveSku('azure', 'large'), { code: 'SKU_UNKNOWN' });
});

t.test('the capability value overrides the name rules', async (t) => {
  t.match(resolveSku('azure', 'Standard_D4s_v5', { maxResourceVolumeMB: 153600 }), { tempDisk: 'formatted', source: 'capability', letter: 'D:' });
  t.match(resolveSku('azure', 'Standard_D2s_v3', { maxResourceVolumeMB: 0 }), { tempDisk: 'none', source: 'capability' });
  t.match(resolveSku('azure', 'Standard_D4ds_v6', { maxResourceVolumeMB: 225280 }), { tempDisk: 'raw', source: 'capability' });
});

t.test('AWS instance store and GCP local SSD are raw; others have no local disk', async (t) => {
  t.equal(resolveSku('aws', 'm5.large').tempDisk, 'none');
  t.equal(resolveSku('aws', 'm5d.xlarge').tempDisk, 'raw');
  t.equal(resolveSku('aws', 'c6gd.large').tempDisk, 'raw');
  t.equal(resolveSku('aws', 'i3.2xlarge').tempDisk, 'raw');
  t.throws(() => resolveSku('aws', 'Standard_D2s_v3'), { code: 'SKU_UNKNOWN' });
  t.equal(resolveSku('gcp', 'n2-standard-4').tempDisk, 'none');
  t.equal(resolveSku('gcp', 'c3-standard-8-lssd').tempDisk, 'raw');
  t.equal(resolveSku('gcp', 'z3-highmem-88').tempDisk, 'raw');
});
