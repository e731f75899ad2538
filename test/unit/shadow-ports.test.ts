import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectContainerPorts, mergeTunnelPorts, portNames } from '../../src/shadow/ports.js';

test('container ports: containers and native sidecars, protocol defaults to TCP, init containers skipped', () => {
  const ports = collectContainerPorts({
    containers: [
      { name: 'a', ports: [{ containerPort: 8080, name: 'http' }, { containerPort: 53, protocol: 'UDP' }] },
      { name: 'b' },
    ],
    initContainers: [
      { name: 'setup', ports: [{ containerPort: 1111 }] },
      { name: 'proxy', restartPolicy: 'Always', ports: [{ containerPort: 15001, name: 'proxy' }] },
    ],
  });
  assert.deepEqual(ports, [
    { port: 8080, name: 'http', protocol: 'TCP' },
    { port: 53, protocol: 'UDP' },
    { port: 15001, name: 'proxy', protocol: 'TCP' },
  ]);
  assert.deepEqual(collectContainerPorts(undefined), []);
});

test('merge: sorted by port then protocol, one entry per (port, protocol), tunnelPorts names win', () => {
  const { ports, errors } = mergeTunnelPorts(
    [
      { port: 8080, name: 'web', protocol: 'TCP' },
      { port: 53, protocol: 'UDP' },
      { port: 53, name: 'dns-tcp', protocol: 'TCP' },
      { port: 8080, protocol: 'TCP' },
    ],
    [{ port: 8080, name: 'api', protocol: 'TCP' }, { port: 53, protocol: 'UDP' }],
    false,
  );
  assert.deepEqual(errors, []);
  assert.deepEqual(ports, [
    { port: 53, name: 'dns-tcp', protocol: 'TCP' },
    { port: 53, protocol: 'UDP' },
    { port: 8080, name: 'api', protocol: 'TCP' },
  ]);
});

test('port names are valid, unique and deterministic; "ws" is reserved', () => {
  const names = portNames([
    { port: 53, name: 'dns', protocol: 'TCP' },
    { port: 53, name: 'dns', protocol: 'UDP' },
    { port: 80, name: 'ws', protocol: 'TCP' },
    { port: 81, name: 'tcp-8080', protocol: 'TCP' },
    { port: 8080, protocol: 'TCP' },
    { port: 9000, name: 'Not_Valid', protocol: 'TCP' },
    { port: 9001, name: 'a-very-long-port-name', protocol: 'TCP' },
  ]);
  assert.deepEqual(names, ['dns', 'udp-53', 'tcp-80', 'tcp-81', 'tcp-8080', 'tcp-9000', 'tcp-9001']);
  assert.equal(new Set(names).size, names.length);
});
