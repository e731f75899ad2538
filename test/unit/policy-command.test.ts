// `ghostwire policy` as users run it: its output, and hostile defaults documents (each refused with exit code 2 and
// a message naming the field, the value, clipped, and what is allowed; never a crash).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseDefaults } from '../../src/config/defaults.js';
import { POLICY_LIMITS } from '../../src/policy/limits.js';
import { parameterData } from '../../src/policy/params.js';
import { CLI } from '../helpers/paths.js';

const run = (args: string[]) => spawnSync(process.execPath, [CLI, 'policy', ...args], { encoding: 'utf8' });

function withFile(t: { after: (fn: () => void) => void }, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-policy-cmd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'defaults.yaml');
  writeFileSync(file, content);
  return file;
}

test('ghostwire policy prints the parameter ConfigMap, the policies and their bindings, behind what policy mode does not do', () => {
  const r = run([]);
  assert.equal(r.status, 0, r.stderr);
  for (const l of POLICY_LIMITS) assert.ok(r.stdout.includes(`# - ${l.topic}: `), `the header names ${l.topic}`);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
  assert.deepEqual(docs.map((d) => d.kind), [
    'ConfigMap', 'MutatingAdmissionPolicy', 'MutatingAdmissionPolicyBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding',
    'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding',
  ]);
  assert.ok(docs.every((d) => d.apiVersion === 'admissionregistration.k8s.io/v1' || d.kind === 'ConfigMap'));
});

test('ghostwire policy -o json --namespace --name: one List; the notes go to stderr', () => {
  const r = run(['-o', 'json', '--namespace', 'platform', '--name', 'gw-team']);
  assert.equal(r.status, 0, r.stderr);
  const list = JSON.parse(r.stdout);
  assert.equal(list.kind, 'List');
  assert.equal(list.items[0].metadata.namespace, 'platform');
  assert.deepEqual(list.items.slice(1).map((o: any) => o.metadata.name).filter((n: string) => !n.startsWith('gw-team-')), []);
  assert.equal(list.items[2].spec.paramRef.namespace, 'platform');
  assert.match(r.stderr, /note: Events: /);
});

test('ghostwire policy --defaults: the webhook\'s defaults document becomes the parameter ConfigMap', (t) => {
  const doc = 'invalidAnnotations: warn\nnatChain: TEAM_DNAT\nexcludeCidrs: [10.3.5.0/16]\ncpuLimit: 1\nnetwork:\n  wildcardDNS: tunnel.example.com\n';
  const r = run(['--defaults', withFile(t, doc)]);
  assert.equal(r.status, 0, r.stderr);
  const cm = parseAllDocuments(r.stdout)[0]!.toJS();
  assert.deepEqual(cm.data, parameterData(parseDefaults(doc, 'doc').defaults));
  assert.equal(cm.data.excludeCidrs, '10.3.0.0/16', 'canonical, as the webhook reads it');
  assert.match(r.stderr, /note: network\.wildcardDNS is a shadow-tunnel setting; policy mode has no tunnels and ignores it/);
});

test('hostile defaults documents and flags are refused with exit code 2, naming what is wrong', (t) => {
  const long = `"${'\u0001'.repeat(3)}${'x'.repeat(10_000)}"`;
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 12 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`)].join('\n');
  const cases: Array<[string[], RegExp]> = [
    [['--defaults', withFile(t, 'natChain: [unclosed\n')], /valid YAML/],
    [['--defaults', withFile(t, '- a\n- b\n')], /a YAML mapping of option keys/],
    [['--defaults', withFile(t, 'natChian: X\n')], /natChian: "" is invalid; allowed: a known key: /],
    [['--defaults', withFile(t, `natChain: ${long}\n`)], /natChain: "\\u0001\\u0001\\u0001x{74}\.\.\." is invalid; allowed: an iptables chain name/],
    [['--defaults', withFile(t, 'cpuRequest: 2\ncpuLimit: 1\n')], /cpuRequest: "2" is invalid; allowed: at most cpuLimit \(1\)/],
    [['--defaults', withFile(t, 'tunnel: true\n')], /tunnel: "true" is invalid; allowed: false in policy mode \(a shadow tunnel's upgrade path is signed with the webhook's key/],
    [['--defaults', withFile(t, 'network:\n  enableTunnel: true\n  wildcardDNS: t.example.com\n')], /network\.enableTunnel: "true" is invalid; allowed: false in policy mode/],
    [['--defaults', withFile(t, bomb)], /valid YAML|alias|Excessive/i],
    [['--defaults', '/nonexistent/defaults.yaml'], /--defaults: cannot read \/nonexistent\/defaults\.yaml: ENOENT/],
    [['--name', 'Bad_Name'], /--name: "Bad_Name" is not allowed; allowed: a DNS-1123 subdomain of at most 48 characters/],
    [['--name', 'x'.repeat(49)], /--name: .* is not allowed/],
    [['--namespace', 'a.b'], /--namespace: "a\.b" is not allowed; allowed: a namespace name/],
    [['-o', 'xml'], /--output: "xml" is not allowed; allowed: yaml, json/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
  ];
  for (const [args, message] of cases) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.equal(r.stdout, '', 'nothing half-printed');
    assert.ok(r.stderr.length < 4000, 'the message is clipped, not the whole value');
  }
});
