// Route truth with the flips users get: the real Argo Rollouts controller runs a blue/green Rollout whose
// previewMetadata/activeMetadata set the role label. ghostwire init and the watcher (in a network namespace, with the
// chart's RBAC for injected pods) follow the NEW revision's pod: routed to the dependency's preview twin from its
// first packet while the Rollout is paused, and, when promotion relabels that same pod role=active in place, its
// established connections move to the active dependency. The oracle (test/helpers/route-oracle.ts) checks every
// answer once the flip settled (300 ms); the flip time is when a watch of the pod (opened before the promotion)
// delivers the new label.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { stringify } from 'yaml';
import { type Answer, type WorldState, judge } from '../helpers/route-oracle.js';
import { type ControlPlane, type RolloutsController, startControlPlane, startRollouts, waitFor } from './harness.js';
import { routeSkipReason } from '../helpers/netns.js';
import { type PodNetns, type PortSpec, grantInjectedRbac, startPodNetns } from './pod-netns.js';

const skip = routeSkipReason();
if (skip) console.log(`# route-truth-rollouts skipped: ${skip}`);

const NS = 'shop';
const SA = 'web';
const HASH = 'rollouts-pod-template-hash';
const PORTS: PortSpec[] = [
  { port: 80, protocol: 'TCP' },
  { port: 53, protocol: 'UDP' },
];

let cp: ControlPlane;
let ro: RolloutsController | undefined;
let pod: PodNetns | undefined;

const yaml = (...docs: unknown[]) => docs.map((d) => stringify(d)).join('---\n');

function service(name: string, selector: Record<string, string>) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { selector, ports: PORTS.map((p) => ({ name: `p${p.port}`, ...p, targetPort: p.port })) } };
}

function rollout(image: string) {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'web', namespace: NS },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { serviceAccountName: SA, automountServiceAccountToken: false, containers: [{ name: 'app', image }] },
      },
      strategy: {
        blueGreen: {
          activeService: 'web',
          previewService: 'web-preview',
          autoPromotionEnabled: false,
          activeMetadata: { labels: { role: 'active' } },
          previewMetadata: { labels: { role: 'preview' } },
        },
      },
    },
  };
}

interface PodObject {
  metadata: { name: string; uid: string; labels: Record<string, string>; deletionTimestamp?: string };
}

const podsOf = async (hash: string): Promise<PodObject[]> =>
  (JSON.parse((await cp.kubectl(['-n', NS, 'get', 'pods', '-l', `app=web,${HASH}=${hash}`, '-o', 'json'])).stdout).items as PodObject[]).filter((p) => !p.metadata.deletionTimestamp);

const clusterIP = async (name: string): Promise<string> => JSON.parse((await cp.kubectl(['-n', NS, 'get', 'service', name, '-o', 'json'])).stdout).spec.clusterIP;

/** Resolves with the time a watch of the pod first shows role=active (and the pod's uid then). */
function whenActive(name: string): { done: Promise<{ at: number; uid: string }>; close: () => void } {
  const url = new URL(`${cp.server}/api/v1/namespaces/${NS}/pods?watch=1&fieldSelector=metadata.name%3D${name}`);
  let close = (): void => undefined;
  const done = new Promise<{ at: number; uid: string }>((resolve, reject) => {
    const req = https.get(url, { ca: cp.caPem, headers: { Authorization: `Bearer ${cp.token}` } }, (res) => {
      let buf = '';
      res.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) !== -1) {
          const ev = JSON.parse(buf.slice(0, nl)) as { object: PodObject };
          buf = buf.slice(nl + 1);
          if (ev.object.metadata.labels?.role === 'active') resolve({ at: Date.now(), uid: ev.object.metadata.uid });
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    close = () => req.destroy();
  });
  return { done, close };
}

before(async () => {
  if (skip) return;
  cp = await startControlPlane();
  ro = await startRollouts(cp);
  await cp.kubectl(['create', 'namespace', NS]);
  await cp.kubectl(['apply', '-f', '-'], {
    input: yaml(
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SA, namespace: NS } },
      // The Rollout's own Services, and the dependency whose twin the preview revision must reach.
      service('web', { app: 'web' }),
      service('web-preview', { app: 'web' }),
      service('orders', { app: 'orders' }),
      service('orders-preview', { app: 'orders-preview' }),
    ),
  });
  await grantInjectedRbac(cp, NS, SA);
});

after(async () => {
  await pod?.destroy();
  await ro?.stop();
  await cp?.stop();
});

test('Argo Rollouts blue/green: the new revision reaches preview twins from its first packet; promotion relabels it active and its open connections follow', { skip, timeout: 300_000 }, async (t) => {
  const stopReady = ro!.keepPodsReady(NS, 'app=web');
  try {
    await cp.kubectl(['apply', '-f', '-'], { input: yaml(rollout('web:1')) });
    const first = await ro!.waitFor(NS, 'web', 'first revision Healthy', (r) => r.status?.phase === 'Healthy' && !!r.status?.stableRS && r.status.stableRS === r.status.currentPodHash);
    await cp.kubectl(['apply', '-f', '-'], { input: yaml(rollout('web:2')) });
    const paused = await ro!.waitFor(NS, 'web', 'paused with the new revision', (r) =>
      r.status?.currentPodHash !== first.status.stableRS && (r.status?.pauseConditions ?? []).some((c: { reason: string }) => c.reason === 'BlueGreenPause'));
    const [green] = await waitFor('the new revision\'s pod labelled role=preview', 60_000, async () => {
      const p = await podsOf(paused.status.currentPodHash);
      return p.length === 1 && p[0]?.metadata.labels.role === 'preview' ? p : undefined;
    });
    assert.ok(green);

    pod = await startPodNetns(cp, { namespace: NS, serviceAccount: SA, podName: green.metadata.name, name: 'argo' });
    const ips = { orders: await clusterIP('orders'), preview: await clusterIP('orders-preview') };
    pod.serve('orders', ips.orders, PORTS);
    pod.serve('orders-preview', ips.preview, PORTS);
    const init = await pod.init();
    assert.equal(init.code, 0, init.stdout + init.stderr);
    // The app starts now, before the watcher is up: its first packets must already take the preview route.
    const appStarted = Date.now();
    pod.clients('orders', ips.orders, PORTS, 100);
    await new Promise((r) => setTimeout(r, 1000));
    const watcher = await pod.watch(['--verify-interval', '1s']);
    await new Promise((r) => setTimeout(r, 2000));

    const relabel = whenActive(green.metadata.name);
    await new Promise((r) => setTimeout(r, 300));
    await ro!.promote(NS, 'web');
    const active = await Promise.race([relabel.done, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the pod was not relabelled role=active within 60 s')), 60_000))]);
    relabel.close();
    assert.equal(active.uid, green.metadata.uid, 'promotion relabels the same pod in place, it does not replace it');
    const flippedAt = active.at;
    await new Promise((r) => setTimeout(r, 3000));
    const stoppedAt = Date.now();
    pod.stopClients();

    const world = (role: WorldState['role']): WorldState => ({
      role,
      actives: new Map([['orders', ips.orders]]),
      previews: new Map([['orders', { ip: ips.preview, ports: new Set(PORTS.map((p) => `${p.port}/${p.protocol}`)) }]]),
    });
    const answers = pod.answers.filter((a) => a.t < stoppedAt);
    const verdict = judge(world('preview'), [{ t: flippedAt, kind: 'flip', what: 'promotion: role=active', after: world('active') }], answers);
    const show = (xs: Answer[]) => xs.slice(0, 15).map((a) => `${a.t - flippedAt}ms ${a.kind} ${a.port}/${a.protocol} ${a.answer ?? a.error}`).join('\n');
    t.diagnostic(`${answers.length} answers, ${verdict.checked} checked, ${verdict.unsettled} within 300 ms of the promotion`);
    assert.equal(verdict.violations.length, 0, `answers from the wrong backend:\n${show(verdict.violations)}\nwatcher:\n${watcher.timeline(flippedAt)}`);
    assert.ok(verdict.errorsWhileSettled.length <= 2, `failed requests outside the flip:\n${show(verdict.errorsWhileSettled)}`);

    // From the first packet: the app's very first answers (before the watcher existed) came from the preview twin.
    const firstLong = answers.find((a) => a.kind === 'long' && a.answer);
    assert.ok(firstLong && firstLong.t - appStarted < 1000, 'the app got answers before the watcher started');
    assert.equal(firstLong.answer, `orders-preview@${ips.preview}`);
    // The long-lived connection opened while preview was reset at the promotion and then answered by active.
    const long = answers.filter((a) => a.kind === 'long' && a.port === 80);
    assert.ok(long.some((a) => a.t < flippedAt && a.answer === `orders-preview@${ips.preview}`));
    assert.ok(long.some((a) => a.error && a.t >= flippedAt - 1000), 'the pooled connection was reset at the flip');
    assert.ok(long.some((a) => a.t > flippedAt + 300 && a.answer === `orders@${ips.orders}`));
    const udp = answers.filter((a) => a.kind === 'udp' && a.answer);
    assert.ok(udp.some((a) => a.t > flippedAt + 300 && a.answer === `orders@${ips.orders}`), 'the UDP flow follows too');
    watcher.stop();
  } finally {
    stopReady();
  }
});
