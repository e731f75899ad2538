// The real Argo Rollouts controller (harness startRollouts) against the real API server: a blue/green Rollout with
// previewMetadata/activeMetadata role labels. The new revision's pod is labelled role=preview while the Rollout is
// paused; promotion relabels that SAME pod role=active in place. That in-place flip is what ghostwire's watcher
// follows, so the route tests build on this. Pods are marked Ready through the status subresource (no kubelet).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { type ControlPlane, type RolloutsController, startControlPlane, startRollouts, waitFor } from './harness.js';

const NS = 'bluegreen';
const HASH = 'rollouts-pod-template-hash';
let cp: ControlPlane;
let ro: RolloutsController | undefined;

const yaml = (...docs: unknown[]) => docs.map((d) => stringify(d)).join('---\n');

function service(name: string) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } };
}

function rollout(image: string) {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'web', namespace: NS },
    spec: {
      replicas: 1,
      revisionHistoryLimit: 2,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image, ports: [{ containerPort: 8080 }] }] } },
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

interface Pod {
  metadata: { name: string; uid: string; labels: Record<string, string>; deletionTimestamp?: string };
}

const pods = async (): Promise<Pod[]> => JSON.parse((await cp.kubectl(['-n', NS, 'get', 'pods', '-l', 'app=web', '-o', 'json'])).stdout).items;
const podsOf = async (hash: string) => (await pods()).filter((p) => p.metadata.labels[HASH] === hash && !p.metadata.deletionTimestamp);
const selectorOf = async (svc: string) => JSON.parse((await cp.kubectl(['-n', NS, 'get', 'service', svc, '-o', 'json'])).stdout).spec.selector;

before(async () => {
  cp = await startControlPlane();
  ro = await startRollouts(cp);
  await cp.kubectl(['create', 'namespace', NS]);
  await cp.kubectl(['apply', '-f', '-'], { input: yaml(service('web'), service('web-preview')) });
});

after(async () => {
  await ro?.stop();
  await cp?.stop();
});

test('startRollouts: the CRDs are created, not applied (no last-applied annotation), with the status subresource promote relies on; a restart reuses them', async () => {
  const crd = JSON.parse((await cp.kubectl(['get', 'crd', 'rollouts.argoproj.io', '-o', 'json'])).stdout);
  assert.equal(crd.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], undefined);
  assert.ok(crd.spec.versions.some((v: { name: string; subresources?: { status?: unknown } }) => v.name === 'v1alpha1' && v.subresources?.status));
  await ro!.stop();
  ro = undefined;
  ro = await startRollouts(cp);
  const again = JSON.parse((await cp.kubectl(['get', 'crd', 'rollouts.argoproj.io', '-o', 'json'])).stdout);
  assert.equal(again.metadata.uid, crd.metadata.uid, 'the same CRD, not recreated');
});

test('blue/green: the new pod is role=preview while paused; promote relabels the SAME pod role=active and moves the active Service', async () => {
  const stopReady = ro!.keepPodsReady(NS, 'app=web');
  try {
    await cp.kubectl(['apply', '-f', '-'], { input: yaml(rollout('web:1')) });
    const first = await ro!.waitFor(NS, 'web', 'first revision Healthy', (r) => r.status?.phase === 'Healthy' && !!r.status?.stableRS && r.status.stableRS === r.status.currentPodHash);
    const blueHash: string = first.status.stableRS;
    const [blue] = await waitFor('the first pod labelled role=active', 30_000, async () => {
      const p = await podsOf(blueHash);
      return p.length === 1 && p[0]?.metadata.labels.role === 'active' ? p : undefined;
    });
    assert.ok(blue);
    assert.equal((await selectorOf('web'))[HASH], blueHash, 'the active Service selects the first revision');

    // A new revision: a second ReplicaSet whose pod gets previewMetadata; the Rollout pauses before promotion.
    await cp.kubectl(['apply', '-f', '-'], { input: yaml(rollout('web:2')) });
    const paused = await ro!.waitFor(NS, 'web', 'paused with the new revision ready', (r) =>
      r.status?.currentPodHash !== blueHash && (r.status?.pauseConditions ?? []).some((c: { reason: string }) => c.reason === 'BlueGreenPause'));
    const greenHash: string = paused.status.currentPodHash;
    assert.equal(paused.status.stableRS, blueHash);
    assert.equal(paused.status.phase, 'Paused');
    const [green] = await waitFor('the new pod labelled role=preview', 30_000, async () => {
      const p = await podsOf(greenHash);
      return p.length === 1 && p[0]?.metadata.labels.role === 'preview' ? p : undefined;
    });
    assert.ok(green);
    assert.equal((await selectorOf('web-preview'))[HASH], greenHash, 'the preview Service selects the new revision');
    assert.equal((await selectorOf('web'))[HASH], blueHash, 'the active Service still selects the old one');
    assert.equal((await podsOf(blueHash))[0]?.metadata.labels.role, 'active', 'the old pod stays active while paused');

    await ro!.promote(NS, 'web');
    const relabelled = await waitFor('the new pod relabelled role=active', 60_000, async () => {
      const p = JSON.parse((await cp.kubectl(['-n', NS, 'get', 'pod', green.metadata.name, '-o', 'json'])).stdout) as Pod;
      return p.metadata.labels.role === 'active' ? p : undefined;
    });
    assert.equal(relabelled.metadata.uid, green.metadata.uid, 'the same pod, relabelled in place (not replaced)');
    assert.equal(relabelled.metadata.labels[HASH], greenHash);
    const done = await ro!.waitFor(NS, 'web', 'promoted and Healthy', (r) => r.status?.phase === 'Healthy' && r.status?.stableRS === greenHash);
    assert.deepEqual(done.status.pauseConditions ?? [], []);
    assert.equal((await selectorOf('web'))[HASH], greenHash, 'the active Service now selects the promoted revision');
    // The old revision is no longer active: relabelled, or already scaled down (scaleDownDelaySeconds, 30 s default).
    await waitFor('the old pod no longer role=active', 60_000, async () => (await podsOf(blueHash)).every((p) => p.metadata.labels.role !== 'active'));
  } finally {
    stopReady();
  }
  assert.match(ro!.logs(), /"rollout":"web"/, 'the controller logged its work on the Rollout');
});
