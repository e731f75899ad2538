// What the webhook hop costs: the latency of creating annotated Deployments through a real API server with nothing
// injecting, with ghostwire's webhook (a real `ghostwire serve` over HTTPS on 127.0.0.1), and with the admission
// policies, in interleaved rounds on the same API server. Printed as p50/p99 figures, asserted only for correctness
// (every object injected by the mode under test): timings vary with the machine and are not a test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, request as httpsRequest } from 'node:https';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderPolicy } from '../../src/policy/objects.js';
import { builtinDefaults } from '../../src/config/defaults.js';
import { generateCA, generateServing } from '../../src/tls/certs.js';
import { VERSION } from '../../src/version.js';
import { CLI } from '../helpers/paths.js';
import { type ControlPlane, freePort, startControlPlane, waitFor } from './harness.js';
import { POLICY_NS, annotatedDeployment, installPolicy, yaml } from './policy-env.js';

const N = Number(process.env.POLICY_LATENCY_N ?? 150);
const ROUNDS = 2;
let cp: ControlPlane;
let dir: string;
let webhook: ChildProcess | undefined;
let agent: Agent;
let seq = 0;

before(async () => {
  cp = await startControlPlane({ controllerManager: false });
  dir = mkdtempSync(join(tmpdir(), 'gw-e2e-latency-'));
  agent = new Agent({ keepAlive: true, ca: cp.caPem, maxSockets: 1 });
  await cp.kubectl(['create', 'namespace', 'bench']);
  await cp.kubectl(['label', 'namespace', 'bench', 'ghostwire.dev/injection=enabled']);
});

after(async () => {
  webhook?.kill('SIGKILL');
  agent?.destroy();
  await cp?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One create through the API server: its latency in ms and the injector that answered. */
function createOne(): Promise<{ ms: number; injected: 'webhook' | 'policy' | 'none' }> {
  const d = annotatedDeployment(`bench-${++seq}`, { 'ghostwire.dev/enabled': 'true' });
  d.metadata.namespace = 'bench';
  const body = Buffer.from(JSON.stringify(d));
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = httpsRequest(new URL('/apis/apps/v1/namespaces/bench/deployments', cp.server), {
      method: 'POST', agent, headers: { authorization: `Bearer ${cp.token}`, 'content-type': 'application/json', 'content-length': body.length },
    }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        if (res.statusCode !== 201) return reject(new Error(`create: ${res.statusCode} ${text.slice(0, 300)}`));
        const status = JSON.parse(text).metadata.annotations?.['ghostwire.dev/status'];
        resolve({ ms, injected: status === undefined ? 'none' : JSON.parse(status).configHash.startsWith('policy:') ? 'policy' : 'webhook' });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function startWebhook(): Promise<{ url: string; caBundle: string }> {
  const port = await freePort();
  const ca = generateCA('latency-ca', 1);
  const pair = generateServing(ca, { commonName: 'ghostwire', dnsNames: [], ips: ['127.0.0.1'], days: 1 });
  writeFileSync(join(dir, 'tls.crt'), pair.certPem);
  writeFileSync(join(dir, 'tls.key'), pair.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'tunnel.key'), 'latency-test-tunnel-key-0123456789');
  let log = '';
  webhook = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--host', '127.0.0.1', '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'),
    '--tunnel-key-file', join(dir, 'tunnel.key'), '--events', 'off', '--log-level', 'warn', '--namespace', POLICY_NS], { stdio: ['ignore', 'pipe', 'pipe'] });
  webhook.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  webhook.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  await waitFor('webhook listening', 20_000, async () => (await fetchReady(port)) || log.includes('listening'));
  return { url: `https://127.0.0.1:${port}/mutate`, caBundle: Buffer.from(ca.certPem).toString('base64') };
}

async function fetchReady(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const r = httpsRequest({ host: '127.0.0.1', port, path: '/readyz', rejectUnauthorized: false }, (res) => resolve(res.statusCode === 200));
    r.on('error', () => resolve(false));
    r.end();
  });
}

/** The chart's webhook registration (scope, matchConditions, Fail, IfNeeded), pointed at the local webhook. */
function webhookConfiguration(url: string, caBundle: string) {
  const policy = renderPolicy({ name: 'ghostwire', namespace: POLICY_NS, defaults: builtinDefaults(), version: VERSION, optInLabel: { key: 'ghostwire.dev/injection', value: 'enabled' } });
  const spec = (policy.find((o) => o.kind === 'MutatingAdmissionPolicy') as { spec: any }).spec;
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: 'ghostwire' },
    webhooks: [{
      name: 'inject.ghostwire.dev', admissionReviewVersions: ['v1'], sideEffects: 'NoneOnDryRun', reinvocationPolicy: 'IfNeeded', timeoutSeconds: 5, failurePolicy: 'Fail', matchPolicy: 'Equivalent',
      clientConfig: { url, caBundle },
      namespaceSelector: spec.matchConstraints.namespaceSelector,
      objectSelector: spec.matchConstraints.objectSelector,
      matchConditions: spec.matchConditions,
      rules: spec.matchConstraints.resourceRules.map((r: any) => ({ apiGroups: r.apiGroups, apiVersions: r.apiVersions, resources: r.resources, operations: r.operations, scope: r.scope })),
    }],
  };
}

const BINDINGS = ['mutatingadmissionpolicybinding/ghostwire-inject', 'validatingadmissionpolicybinding/ghostwire-validate', 'validatingadmissionpolicybinding/ghostwire-warn'];

async function select(mode: 'none' | 'webhook' | 'policy', hook: { url: string; caBundle: string }, policyObjects: string): Promise<void> {
  if (mode === 'webhook') await cp.kubectl(['apply', '-f', '-'], { input: yaml(webhookConfiguration(hook.url, hook.caBundle)) });
  else await cp.kubectl(['delete', 'mutatingwebhookconfiguration', 'ghostwire', '--ignore-not-found']);
  if (mode === 'policy') await cp.kubectl(['apply', '-f', '-'], { input: policyObjects });
  else await cp.kubectl(['delete', ...BINDINGS, '--ignore-not-found']);
  // Registration changes reach the admission chain asynchronously: wait until three creates in a row answer as asked.
  await waitFor(`mode ${mode} in effect`, 30_000, async () => {
    for (let i = 0; i < 3; i++) if ((await createOne()).injected !== mode) return false;
    return true;
  }, 200);
}

/** CPU time (user + system, ms) a process has used so far. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** The kube-apiserver of this control plane (the one listening on its port). */
function apiServerPid(): number {
  const port = new URL(cp.server).port;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.includes('kube-apiserver') && cmd.includes(`--secure-port=${port}\u0000`)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no kube-apiserver with --secure-port=${port}`);
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;

test(`admission latency of ${N} Deployment creates: nothing injecting vs the webhook vs the admission policies`, async () => {
  await installPolicy(cp, builtinDefaults(), 'bench');
  const policyObjects = yaml(...renderPolicy({ name: 'ghostwire', namespace: POLICY_NS, defaults: builtinDefaults(), version: VERSION, optInLabel: { key: 'ghostwire.dev/injection', value: 'enabled' } }).filter((o) => String(o.kind).endsWith('Binding')));
  const hook = await startWebhook();
  const samples: Record<string, number[]> = { none: [], webhook: [], policy: [] };
  // CPU per create is the figure that holds when the machine is busy: the API server's, plus the webhook's own.
  const cpu: Record<string, number> = { none: 0, webhook: 0, policy: 0 };
  const api = apiServerPid();
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of ['none', 'webhook', 'policy'] as const) {
      await select(mode, hook, policyObjects);
      const before = cpuMs(api) + (mode === 'webhook' ? cpuMs(webhook!.pid!) : 0);
      for (let i = 0; i < N / ROUNDS; i++) {
        const r = await createOne();
        assert.equal(r.injected, mode, `create ${seq} in mode ${mode}`);
        samples[mode]!.push(r.ms);
      }
      cpu[mode]! += cpuMs(api) + (mode === 'webhook' ? cpuMs(webhook!.pid!) : 0) - before;
    }
  }
  const rows = Object.entries(samples).map(([mode, ms]) => {
    const s = [...ms].sort((a, b) => a - b);
    return { mode, n: s.length, p50: pct(s, 50), p99: pct(s, 99), mean: s.reduce((a, b) => a + b, 0) / s.length, cpu: cpu[mode]! / s.length };
  });
  const base = rows.find((r) => r.mode === 'none')!;
  const lines = rows.map((r) =>
    `  ${r.mode.padEnd(8)} n=${r.n}  p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  mean ${r.mean.toFixed(1)} ms  CPU ${r.cpu.toFixed(1)} ms/create` +
    `  (p50 +${(r.p50 - base.p50).toFixed(1)} ms, CPU +${(r.cpu - base.cpu).toFixed(1)} ms over nothing injecting)`);
  process.stderr.write(`[e2e] admission latency, Deployment creates through kube-apiserver ${(await cp.api('GET', '/version')).body.gitVersion} on 127.0.0.1 (one client, keep-alive, interleaved rounds; CPU = the API server's, plus ghostwire serve's in webhook mode):\n${lines.join('\n')}\n`);
  for (const r of rows) assert.equal(r.n, N);
});
