/**
 * The nftables policy enforced by the kernel: rules loaded in a network namespace created here,
 * real sockets on both ends of a veth pair. Dropped connections time out (drop, not reject).
 */
import t from 'tap';
import { execa } from 'execa';
import { needs } from '../helpers/env.js';
import { createNsPair } from './netns.js';
import { applyIsolation, isolationStatus, removeIsolation, withIsolation } from '../../network/isolation/apply.js';
import { buildPolicy, flowSummary } from '../../network/isolation/policy.js';
import { METADATA_ADDRESS } from '../../network/isolation/policy.js';
import { nftFlows } from './flows.js';

t.test('443 in and 445 out only, in a namespace', { skip: needs({ root: true }) }, async (t) => {
  const n = await createNsPair(t);
  await n.listen(n.ce, [443, 8080]);
  await n.listen(n.peer, [445, 80]);
  // The metadata address on the peer, routed from the CE namespace: tests the root-only rule.
  await n.ip(n.peer, ['addr', 'add', `${METADATA_ADDRESS}/32`, 'dev', 'veth0']);
  await n.ip(n.ce, ['route', 'add', `${METADATA_ADDRESS}/32`, 'dev', 'veth0']);

  // Without rules everything connects: the drops below are the firewall's doing.
  t.equal(await n.connect(n.peer, n.ceAddr, 8080), 'connected', 'control: 8080 reachable before isolation');
  t.equal(await n.connect(n.ce, n.peerAddr, 80), 'connected', 'control: peer 80 reachable before isolation');
  t.equal(await isolationStatus({ netns: n.ce }), 'absent');

  const policy = buildPolicy();
  await applyIsolation(policy, { netns: n.ce });
  await applyIsolation(policy, { netns: n.ce }); // idempotent: replaces the table
  t.equal(await isolationStatus({ netns: n.ce }), 'active');

  const [in443, in8080, out445, out80, lo8080, mdRoot, mdUser, mdUser445] = await Promise.all([
    n.connect(n.peer, n.ceAddr, 443),
    n.connect(n.peer, n.ceAddr, 8080),
    n.connect(n.ce, n.peerAddr, 445),
    n.connect(n.ce, n.peerAddr, 80),
    n.connect(n.ce, '127.0.0.1', 8080),
    n.connect(n.ce, METADATA_ADDRESS, 80),
    n.connect(n.ce, METADATA_ADDRESS, 80, { uid: 65534 }),
    n.connect(n.ce, n.peerAddr, 445, { uid: 65534 }),
  ]);
  t.equal(in443, 'connected', 'inbound 443 accepted');
  t.equal(in8080, 'timeout', 'inbound 8080 dropped');
  t.equal(out445, 'connected', 'outbound 445 accepted');
  t.equal(out80, 'timeout', 'outbound 80 dropped');
  t.equal(lo8080, 'connected', 'loopback stays open');
  t.equal(mdRoot, 'connected', 'root reaches the metadata endpoint');
  t.equal(mdUser, 'timeout', 'a non-root user (the ce service, a guest) does not');
  t.equal(mdUser445, 'connected', 'a non-root user reaches SMB');

  // What the kernel holds is what the policy (and so the cloud JSON) says.
  const listing = JSON.parse((await execa('ip', ['netns', 'exec', n.ce, 'nft', '-j', 'list', 'table', 'inet', 'ce_isolation'])).stdout);
  t.same(nftFlows(listing), flowSummary(policy.rules));

  await removeIsolation({ netns: n.ce });
  await removeIsolation({ netns: n.ce }); // absent table: still fine
  t.equal(await isolationStatus({ netns: n.ce }), 'absent');
  t.equal(await n.connect(n.peer, n.ceAddr, 8080), 'connected', 'open again after removeIsolation');
});

t.test('restricted peers and DNS are enforced', { skip: needs({ root: true }) }, async (t) => {
  const n = await createNsPair(t);
  await n.listen(n.ce, [443]);
  await n.listen(n.peer, [445, 53]);
  // The connector may only come from 10.99.0.0/16 (not the peer); SMB only to the peer; DNS only to the peer.
  const policy = buildPolicy({ connectorCidrs: ['10.99.0.0/16'], smbCidrs: [`${n.peerAddr}/32`], dnsServers: [n.peerAddr], platformEndpoints: false });
  await applyIsolation(policy, { netns: n.ce });
  t.equal(await n.connect(n.peer, n.ceAddr, 443), 'timeout', '443 from outside the connector range dropped');
  t.equal(await n.connect(n.ce, n.peerAddr, 445), 'connected', 'SMB to the allowed share');
  t.equal(await n.connect(n.ce, n.peerAddr, 53), 'connected', 'DNS over TCP to the configured server');
  const listing = JSON.parse((await execa('ip', ['netns', 'exec', n.ce, 'nft', '-j', 'list', 'table', 'inet', 'ce_isolation'])).stdout);
  t.same(nftFlows(listing), flowSummary(policy.rules));
});

t.test('withIsolation unloads the rules after the work, also on failure', { skip: needs({ root: true }) }, async (t) => {
  const n = await createNsPair(t);
  const seen = await withIsolation(buildPolicy(), { netns: n.ce }, () => isolationStatus({ netns: n.ce }));
  t.equal(seen, 'active', 'loaded during the work');
  t.equal(await isolationStatus({ netns: n.ce }), 'absent', 'unloaded after');
  await t.rejects(withIsolation(buildPolicy(), { netns: n.ce }, async () => { throw new Error('boot failed'); }), /boot failed/);
  t.equal(await isolationStatus({ netns: n.ce }), 'absent', 'unloaded after a failure');
});

t.test('a missing namespace is a typed error', { skip: needs({ root: true }) }, async (t) => {
  await t.rejects(applyIsolation(buildPolicy(), { netns: 'ce-iso-does-not-exist' }), { code: 'ISOLATION_APPLY_FAILED' });
});
