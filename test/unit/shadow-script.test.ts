// Nothing from a workload reaches the tunnel pre-exec script or client command as shell text: the workload name (the
// one value no rule constrains in a forged review or a hand-made manifest) only appears escaped inside a comment, and
// every other value is checked to hold no character a shell or printf interprets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { VERSION } from '../../src/version.js';
import { mutate } from '../../src/admission/mutate.js';
import { builtinDefaults, parseDefaults, TUNNEL_PRE_EXEC_ANNOTATION } from '../../src/config/index.js';
import { injectDocuments } from '../../src/offline/inject-documents.js';
import { requestFor } from '../../src/offline/inject-documents.js';
import { ScriptValueError, commentText, scriptLiteral } from '../../src/shadow/remote.js';
import type { KubeObject } from '../../src/kube/objects.js';

const defaults = parseDefaults('network:\n  enableTunnel: true\n  wildcardDNS: tunnel.example.com\n', 'test').defaults ?? builtinDefaults();
const ctx = { defaults, version: VERSION, tunnelKey: 'script-test-key-0123456789' };

function meshDeployment(name: string): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'hpc' },
    spec: { template: { metadata: { annotations: { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/fullMesh': 'true' } }, spec: { containers: [{ name: 'sim', image: 'sim:7', ports: [{ containerPort: 7000 }] }] } } },
  };
}

function preExec(object: KubeObject): string {
  const out = mutate(requestFor(object, 'hpc'), ctx);
  assert.equal(out.allowed, true, out.denial?.message);
  const op = out.patch.find((p) => p.path.endsWith(TUNNEL_PRE_EXEC_ANNOTATION.replace('/', '~1')));
  assert.ok(op, 'the pre-exec annotation is written');
  return (op as { value: string }).value;
}

const HOSTILE_NAMES = [
  'sim\nrm -rf / #',
  'sim\r\ntouch /tmp/gw-pwned',
  'sim\u2028reboot',
  '$(touch /tmp/gw-pwned)',
  '`touch /tmp/gw-pwned`',
  "sim'; reboot; echo '",
  'sim\u0000nul',
  `${'a b '.repeat(60)}\\`,
];

test('hostile workload names stay inside the script\'s comment, escaped; the script is the same shape and valid sh', () => {
  const benign = preExec(meshDeployment('simulator')).split('\n');
  const commands = (lines: string[]) => lines.filter((l) => !l.startsWith('#'));
  for (const name of HOSTILE_NAMES) {
    const script = preExec(meshDeployment(name));
    const lines = script.split('\n');
    assert.equal(lines.length, benign.length, `${JSON.stringify(name)}: no line was added`);
    assert.equal(commands(lines).length, commands(benign).length, JSON.stringify(name));
    assert.ok(!/[\u2028\u2029\r\u0000]/.test(script), `${JSON.stringify(name)}: no raw line separator or NUL`);
    assert.ok(lines[1]?.startsWith('# ghostwire full-mesh tunnel for hpc/'), lines[1]);
    assert.ok(!lines.some((l) => /^\s*(rm|touch|reboot)\b/.test(l)), `${JSON.stringify(name)}: no injected command line`);
    // The commands are the benign script's, with this workload's own host and prefix.
    const norm = (l: string) => l.replace(/shadow-[a-z0-9-]+-wg-keys/g, 'KEYS').replace(/[0-9a-f]{32}/g, 'PREFIX').replace(/[a-z0-9-]+\.tunnel\.example\.com/g, 'HOST');
    assert.deepEqual(commands(lines).map(norm), commands(benign).map(norm), JSON.stringify(name));
    const sh = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' });
    assert.equal(sh.status, 0, `${JSON.stringify(name)}: ${sh.stderr}`);
  }
});

test('the same holds for `ghostwire inject` input', () => {
  const [result] = injectDocuments([meshDeployment('sim\nrm -rf / #')], ctx, 'hpc');
  const annotations = (result?.output as any).spec.template.metadata.annotations as Record<string, string>;
  const script = annotations[TUNNEL_PRE_EXEC_ANNOTATION] as string;
  assert.match(script.split('\n')[1] as string, /^# ghostwire full-mesh tunnel for hpc\/sim\\u000arm -rf \/ # via /);
});

test('scriptLiteral refuses any character a shell or printf reads; commentText keeps printable ASCII only', () => {
  assert.equal(scriptLiteral('wss://a-b.example.com:443', 'url'), 'wss://a-b.example.com:443');
  for (const bad of ['a b', "a'b", 'a"b', 'a$b', 'a`b', 'a%b', 'a\\b', 'a;b', 'a\nb', '', 'a*b', 'a[b]']) {
    assert.throws(() => scriptLiteral(bad, 'value'), ScriptValueError, JSON.stringify(bad));
  }
  assert.equal(commentText('a\nb\\c\u00e9'), 'a\\u000ab\\u005cc\\u00e9');
  assert.equal(commentText('x'.repeat(300)).length, 253);
});
