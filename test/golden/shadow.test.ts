// Golden shadow manifests and annotations for each mode and TLS setting. Regenerate with UPDATE_GOLDEN=1.
import { test } from 'node:test';
import { stringify } from 'yaml';
import { renderYaml } from '../../src/offline/manifests.js';
import { tunnelAnnotations } from '../../src/shadow/annotations.js';
import { planShadow } from '../../src/shadow/manifests.js';
import type { TunnelPort } from '../../src/shadow/ports.js';
import { assertGolden } from '../helpers/golden.js';
import { config, input, network } from '../helpers/shadow-fixtures.js';

const PORTS: TunnelPort[] = [
  { port: 9090, name: 'metrics', protocol: 'TCP' },
  { port: 80, name: 'http', protocol: 'TCP' },
  { port: 5353, name: 'dns', protocol: 'UDP' },
];

const CASES = [
  { file: 'plain.yaml', fullMesh: false, tls: false },
  { file: 'plain-tls.yaml', fullMesh: false, tls: true },
  { file: 'full-mesh.yaml', fullMesh: true, tls: false },
  { file: 'full-mesh-tls.yaml', fullMesh: true, tls: true },
];

for (const c of CASES) {
  test(`golden shadow manifests: ${c.file}`, () => {
    const objects = planShadow(input({ config: config({ fullMesh: c.fullMesh }), network: network({ ingressTLS: c.tls }), containerPorts: PORTS })).objects;
    assertGolden(`shadow/${c.file}`, renderYaml(objects));
  });
}

test('golden pod-template annotations for every mode and TLS setting', () => {
  const out: Record<string, unknown> = {};
  for (const c of CASES) {
    out[c.file.replace('.yaml', '')] = tunnelAnnotations(
      input({ config: config({ fullMesh: c.fullMesh }), network: network({ ingressTLS: c.tls }), containerPorts: PORTS }),
    );
  }
  assertGolden('shadow/annotations.yaml', stringify(out, { lineWidth: 0 }));
});
