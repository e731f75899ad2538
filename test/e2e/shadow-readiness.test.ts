// Readiness of a shadow against a real kube-apiserver and kube-controller-manager (Deployment, ReplicaSet and
// EndpointSlice controllers), with the test playing kubelet: only a Running, Ready=True, non-terminating pod of the
// shadow Deployment's CURRENT ReplicaSet that backs a ready endpoint makes the tunnel Ready. A pod that merely has an
// IP, an old ReplicaSet's Ready pod (during a rollout) and a terminating pod do not count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from './harness.js';
import { type TunnelStatus, holdsFor, startShadowTest, tunnelWorkload } from './shadow-env.js';

const NS = 'shop';
const HOLD_MS = 3000;

test('readiness: an IP without Ready=True, an old ReplicaSet\'s pod and a terminating pod do not make the tunnel Ready', { timeout: 90_000 }, async (t) => {
  const { cp, env, paths } = await startShadowTest(t, NS);
  const status = (): Promise<TunnelStatus | undefined> => env.status('web');
  const phase = async (): Promise<string | undefined> => (await status())?.phase;
  const currentReplicaSet = async (): Promise<any> => {
    const d = await env.getJson(paths.deployment);
    const revision = d?.metadata?.annotations?.['deployment.kubernetes.io/revision'];
    const list = await env.getJson(`/apis/apps/v1/namespaces/${NS}/replicasets?labelSelector=app.kubernetes.io%2Finstance%3Dshadow-web`);
    return (list?.items ?? []).find((rs: any) => revision && rs.metadata.annotations?.['deployment.kubernetes.io/revision'] === revision);
  };
  const readyEndpoints = async (): Promise<string[]> => {
    const list = await env.getJson(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dshadow-web`);
    return (list?.items ?? []).flatMap((s: any) => (s.endpoints ?? []).filter((e: any) => e.conditions?.ready).map((e: any) => e.targetRef?.name as string));
  };
  try {
    await env.startController();
    await env.apply(tunnelWorkload(NS, 'web', { 'ghostwire.dev/tunnel': 'true', 'ghostwire.dev/tunnelTimeout': '5m' }));
    await waitFor('status Pending', 30_000, async () => (await phase()) === 'Pending');

    // 1. Scheduled, Running, with an IP, but Ready=False: stays Pending. (In a real cluster the EndpointSlice and
    // Deployment controllers read the same Ready condition, so they hold it back too; the pod rule on its own is
    // covered by the unit tests.)
    const first = await env.nextShadowPod('web', '10.244.0.11', false);
    await waitFor('the pod as a not-ready endpoint', 20_000, async () => {
      const list = await env.getJson(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dshadow-web`);
      return (list?.items ?? []).some((s: any) => (s.endpoints ?? []).some((e: any) => e.targetRef?.name === first && e.conditions?.ready === false));
    });
    await holdsFor('Pending while the pod has an IP but is not Ready', HOLD_MS, async () => (await phase()) === 'Pending');
    await env.setPodStatus(first, '10.244.0.11', true);
    const ready1 = await waitFor('status Ready once the pod is Ready', 30_000, async () => {
      const s = await status();
      return s?.phase === 'Ready' ? s : undefined;
    });

    // 2. A rollout: the workload gets another port, so the shadow Deployment gets a new template and ReplicaSet. The
    // old ReplicaSet's pod stays Running, Ready and a ready endpoint (maxUnavailable 0), the Deployment stays
    // Available; the tunnel is still Pending until the NEW ReplicaSet's pod is Ready.
    const oldRs = await currentReplicaSet();
    await env.apply(tunnelWorkload(NS, 'web', { 'ghostwire.dev/tunnel': 'true', 'ghostwire.dev/tunnelTimeout': '5m' }, ['http:8080', 'admin:9090']));
    const pending2 = await waitFor('a status for the new objects', 30_000, async () => {
      const s = await status();
      return s && s.hash !== ready1.hash ? s : undefined;
    });
    assert.equal(pending2.phase, 'Pending');
    const newRs = await waitFor('the new ReplicaSet', 30_000, async () => {
      const rs = await currentReplicaSet();
      return rs && rs.metadata.uid !== oldRs.metadata.uid ? rs : undefined;
    });
    const second = await env.nextShadowPod('web', '10.244.0.12', false, [first]);
    assert.equal((await env.getJson(`/api/v1/namespaces/${NS}/pods/${second}`)).metadata.ownerReferences[0].uid, newRs.metadata.uid);
    await holdsFor('Pending while only the old ReplicaSet\'s pod is Ready', HOLD_MS, async () => {
      const s = await status();
      const old = await env.getJson(`/api/v1/namespaces/${NS}/pods/${first}`);
      const deployment = await env.getJson(paths.deployment);
      return (
        s?.phase === 'Pending' &&
        s.hash === pending2.hash &&
        // ...and the old pod really is Ready, not terminating, a ready endpoint, with the Deployment Available.
        !old.metadata.deletionTimestamp &&
        old.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True') &&
        (await readyEndpoints()).includes(first) &&
        deployment.status.conditions.some((c: any) => c.type === 'Available' && c.status === 'True')
      );
    });
    await env.setPodStatus(second, '10.244.0.12', true);
    await waitFor('status Ready with the new objects', 30_000, async () => {
      const s = await status();
      return s?.phase === 'Ready' && s.hash === pending2.hash;
    });

    // 3. The current pod is deleted with a grace period: it stays, terminating, still Running and Ready=True in its
    // status (no kubelet), while its ReplicaSet creates a replacement. The tunnel falls back to Pending and says it
    // waits for a non-terminating pod.
    const del = await cp.api('DELETE', `/api/v1/namespaces/${NS}/pods/${second}?gracePeriodSeconds=300`);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    const terminating = await env.getJson(`/api/v1/namespaces/${NS}/pods/${second}`);
    assert.ok(terminating.metadata.deletionTimestamp, 'the pod is terminating, not gone');
    assert.ok(terminating.status.conditions.some((c: any) => c.type === 'Ready' && c.status === 'True'));
    const pending3 = await waitFor('status Pending after the pod started terminating', 30_000, async () => {
      const s = await status();
      return s?.phase === 'Pending' ? s : undefined;
    });
    assert.match(pending3.reason!, new RegExp(`waiting for .*a Ready, non-terminating pod of ReplicaSet ${newRs.metadata.name}`));
    const third = await env.nextShadowPod('web', '10.244.0.13', false, [first, second]);
    await holdsFor('Pending while the Ready pod is terminating', HOLD_MS, async () => {
      const pod = await env.getJson(`/api/v1/namespaces/${NS}/pods/${second}`);
      return (await phase()) === 'Pending' && Boolean(pod?.metadata?.deletionTimestamp);
    });
    await env.setPodStatus(third, '10.244.0.13', true);
    await waitFor('status Ready with the replacement pod', 30_000, async () => (await phase()) === 'Ready');
    const reasons = await waitFor('the ShadowReady Event', 10_000, async () => {
      const r = (await env.events('web')).map((e) => e.reason).filter((x) => x.startsWith('Shadow'));
      return r.at(-1) === 'ShadowReady' ? r : undefined;
    });
    assert.deepEqual(reasons, ['ShadowPending', 'ShadowReady', 'ShadowPending', 'ShadowReady', 'ShadowPending', 'ShadowReady']);
  } catch (err) {
    env.dump();
    throw err;
  }
});
