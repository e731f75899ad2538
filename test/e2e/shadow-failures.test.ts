// Failed attempts against a real kube-apiserver: an apply rejected by the API server in the middle of an attempt
// (a ResourceQuota that allows no Ingress, so the Deployment applied before it is created and the Ingress is not),
// the cleanup of exactly what that attempt created, the backoff retry converging once the quota is gone, and the
// WireGuard keys surviving every attempt without leaking; and a permanent failure (a foreign object with the
// shadow's name) that stays parked instead of looping on its own status writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from './harness.js';
import { type WatchRecord, holdsFor, startShadowTest, tunnelWorkload } from './shadow-env.js';

const NS = 'shop';
const QUOTA = 'no-ingress';

/** Every object of `kind` that was ADDED was DELETED again, by the same uid. */
function allDeleted(records: WatchRecord[], kind: string): boolean {
  const added = records.filter((r) => r.kind === kind && r.type === 'ADDED').map((r) => r.uid);
  const deleted = new Set(records.filter((r) => r.kind === kind && r.type === 'DELETED').map((r) => r.uid));
  return added.length > 0 && added.every((uid) => deleted.has(uid));
}

test('a rejected apply fails the attempt, removes what it created by uid, keeps the keys, and the backoff retry converges', { timeout: 90_000 }, async (t) => {
  const { env, paths } = await startShadowTest(t, NS);
  try {
    // The quota admission plugin rejects the Ingress; wait until the quota controller has computed its usage.
    await env.apply(`apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: ${QUOTA}, namespace: ${NS}}\nspec:\n  hard: {count/ingresses.networking.k8s.io: "0"}\n`);
    await waitFor('the quota status', 30_000, async () => (await env.getJson(`/api/v1/namespaces/${NS}/resourcequotas/${QUOTA}`))?.status?.used);
    const watched = [
      env.watch(`/apis/apps/v1/namespaces/${NS}/deployments`, 'shadow-web'),
      env.watch(`/api/v1/namespaces/${NS}/services`, 'shadow-web'),
      env.watch(`/api/v1/namespaces/${NS}/configmaps`, 'shadow-web'),
      env.watch(`/api/v1/namespaces/${NS}/secrets`, 'shadow-web'),
      env.watch(`/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses`, 'shadow-web'),
    ];
    const records = (): WatchRecord[] => watched.flatMap((w) => w.records);
    await env.startController();
    await env.apply(tunnelWorkload(NS, 'web', { 'ghostwire.dev/tunnel': 'true', 'ghostwire.dev/fullMesh': 'true', 'ghostwire.dev/tunnelTimeout': '120s' }));

    // Failed, with a reason naming the rejected object and carrying the API server's message.
    const failed = await waitFor('status Failed', 30_000, async () => {
      const s = await env.status('web');
      return s?.phase === 'Failed' ? s : undefined;
    });
    assert.equal(failed.mode, 'full-mesh');
    assert.match(failed.reason!, /^apply Ingress shop\/shadow-web failed: .*HTTP 403 Forbidden: .*exceeded quota: no-ingress/);
    const failedEvent = await waitFor('a ShadowFailed Event', 10_000, async () => (await env.events('web')).find((e) => e.reason === 'ShadowFailed'));
    assert.equal(failedEvent.type, 'Warning');
    assert.match(failedEvent.message, /apply Ingress shop\/shadow-web failed: .*exceeded quota: no-ingress/);

    // The attempt created the ConfigMap, the Service and the Deployment (applied before the Ingress) and deleted each
    // of them again by its uid; nothing half-built stays between attempts (not even the shadow's ReplicaSet or pods).
    // Retries run on a backoff (1s, 2s, 4s...), so there is a quiet moment to observe; the condition can only hold
    // if the cleanup works.
    await waitFor('a quiet moment with every object of the failed attempts deleted', 20_000, async () => {
      if ((await env.status('web'))?.phase !== 'Failed') return false;
      for (const p of [paths.deployment, paths.service, paths.wgConfig, paths.ingress]) if (await env.exists(p)) return false;
      const rs = await env.getJson(`/apis/apps/v1/namespaces/${NS}/replicasets?labelSelector=app.kubernetes.io%2Finstance%3Dshadow-web`);
      if ((rs?.items ?? []).length > 0) return false;
      if ((await env.shadowPods('web', { includeTerminating: true })).length > 0) return false;
      return ['Deployment', 'Service', 'ConfigMap'].every((kind) => allDeleted(records(), kind));
    });
    assert.deepEqual(records().filter((r) => r.kind === 'Ingress'), [], 'the Ingress was never stored');
    const removedLines = env.controllerLines().filter((l) => l.msg === 'removed the objects of the failed attempt');
    assert.ok(removedLines.length >= 1);
    assert.deepEqual(removedLines[0]!.deleted, ['ConfigMap/shop/shadow-web-wg-config', 'Service/shop/shadow-web', 'Deployment/shop/shadow-web'], 'what the attempt created, in creation order');

    // The keys Secret is not part of an attempt: it survives the failure.
    const keys = await env.getJson(paths.keys);
    assert.ok(keys, 'the keys Secret exists after the failed attempt');

    // Retries back off (1s, 2s, 4s...) and nothing wakes them earlier: not the attempt's own status write, not the
    // deletions of its cleanup.
    const lines = env.controllerLines();
    const retries = lines.filter((l) => l.msg.startsWith('will retry') && l.workload === 'Deployment/shop/web');
    const failures = lines.filter((l) => l.msg.startsWith('shadow attempt failed'));
    assert.deepEqual(retries.map((l) => l.retryInMs), [1000, 2000, 4000, 8000].slice(0, retries.length), 'exponential backoff');
    assert.equal(failures.length, retries.length);
    for (let i = 1; i < failures.length; i++) {
      const gap = Date.parse(failures[i]!.time as string) - Date.parse(failures[i - 1]!.time as string);
      assert.ok(gap >= (retries[i - 1]!.retryInMs as number) - 50, `attempt ${i + 1} ran ${gap} ms after the previous one failed, before its ${String(retries[i - 1]!.retryInMs)} ms backoff`);
    }

    // The quota goes; the next retry (on its backoff, nothing else wakes it) applies everything.
    await env.kubectl(['-n', NS, 'delete', 'resourcequota', QUOTA]);
    await waitFor('the shadow Ingress after the quota is gone', 30_000, () => env.exists(paths.ingress));
    await env.nextShadowPod('web', '10.244.0.21', true);
    const ready = await waitFor('status Ready', 30_000, async () => {
      const s = await env.status('web');
      return s?.phase === 'Ready' ? s : undefined;
    });
    assert.equal(ready.hash, failed.hash, 'the same rendered objects');
    // The Event follows the status write.
    const reasons = await waitFor('a ShadowReady Event', 10_000, async () => {
      const r = (await env.events('web')).map((e) => e.reason).filter((x) => x.startsWith('Shadow'));
      return r.at(-1) === 'ShadowReady' ? r : undefined;
    });
    assert.equal(reasons.filter((r) => r === 'ShadowFailed').length, env.controllerLines().filter((l) => l.msg.startsWith('shadow attempt failed')).length, 'one ShadowFailed per failed attempt');

    // Same keys: the Secret was created once, never replaced, its data unchanged.
    const after = await env.getJson(paths.keys);
    assert.equal(after.metadata.uid, keys.metadata.uid);
    assert.deepEqual(after.data, keys.data);
    assert.deepEqual(
      records().filter((r) => r.kind === 'Secret').map((r) => [r.type, r.uid]),
      [['ADDED', keys.metadata.uid]],
      'one Secret, never deleted or modified',
    );
    assert.equal(env.controllerLines().filter((l) => l.msg === 'WireGuard keys created').length, 1);

    // Private keys live only in the Secret: not in any annotation, ConfigMap, Event, other object or the log.
    const privates = ['server-private-key', 'client-private-key'].flatMap((k) => {
      const b64 = after.data[k] as string;
      return [b64, Buffer.from(b64, 'base64').toString()];
    });
    const visible: string[] = [];
    for (const list of [
      `/apis/apps/v1/namespaces/${NS}/deployments`,
      `/apis/apps/v1/namespaces/${NS}/replicasets`,
      `/api/v1/namespaces/${NS}/pods`,
      `/api/v1/namespaces/${NS}/services`,
      `/api/v1/namespaces/${NS}/configmaps`,
      `/api/v1/namespaces/${NS}/events`,
      `/apis/networking.k8s.io/v1/namespaces/${NS}/ingresses`,
      `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`,
    ]) {
      const body = await env.getJson(list);
      assert.ok(body?.items, `list ${list}`);
      visible.push(JSON.stringify(body.items));
    }
    const configMaps = visible[4]!;
    assert.ok(configMaps.includes('shadow-web-wg-config'), 'the WireGuard ConfigMap is among what was searched');
    for (const p of privates) {
      assert.ok(!visible.some((v) => v.includes(p)), 'a private key is visible outside its Secret');
      assert.ok(!env.controllerLog().includes(p), 'a private key was logged');
    }
  } catch (err) {
    env.dump();
    throw err;
  }
});

test('a permanent failure (a foreign object with the shadow name) is reported once and parked until the workload changes', { timeout: 60_000 }, async (t) => {
  const { env, paths } = await startShadowTest(t, NS);
  try {
    await env.apply(`apiVersion: v1\nkind: Service\nmetadata: {name: shadow-web, namespace: ${NS}}\nspec:\n  ports: [{port: 80}]\n`);
    const foreign = await env.getJson(paths.service);
    await env.startController();
    await env.apply(tunnelWorkload(NS, 'web', { 'ghostwire.dev/tunnel': 'true', 'ghostwire.dev/tunnelTimeout': '120s' }));
    const failed = await waitFor('status Failed', 30_000, async () => {
      const s = await env.status('web');
      return s?.phase === 'Failed' ? s : undefined;
    });
    assert.match(failed.reason!, /^Service shop\/shadow-web already exists and is not owned by Deployment web/);
    const shadowEvents = async () => (await env.events('web')).map((e) => e.reason).filter((r) => r.startsWith('Shadow'));
    // Its own status writes do not re-run it: one Pending/Failed pair, not a loop.
    await holdsFor('one ShadowPending/ShadowFailed pair', 3000, async () => JSON.stringify(await shadowEvents()) === '["ShadowPending","ShadowFailed"]');
    assert.ok((await env.workload('web')).metadata.generation <= 6, 'the workload is not rewritten over and over');
    const still = await env.getJson(paths.service);
    assert.equal(still.metadata.uid, foreign.metadata.uid);
    assert.equal(still.metadata.resourceVersion, foreign.metadata.resourceVersion, 'the foreign Service is untouched');
    assert.equal(await env.exists(paths.deployment), false, 'nothing applied');

    // The conflict goes and the workload changes: reconciled again.
    await env.kubectl(['-n', NS, 'delete', 'service', 'shadow-web']);
    await env.kubectl(['-n', NS, 'annotate', 'deployment', 'web', '--overwrite', 'ghostwire.dev/tunnelTimeout=150s']);
    const ours = await waitFor('our shadow Service', 30_000, async () => {
      const s = await env.getJson(paths.service);
      return s?.metadata?.ownerReferences?.[0]?.name === 'web' ? s : undefined;
    });
    assert.notEqual(ours.metadata.uid, foreign.metadata.uid);
    await env.nextShadowPod('web', '10.244.0.31', true);
    await waitFor('status Ready', 30_000, async () => (await env.status('web'))?.phase === 'Ready');
  } catch (err) {
    env.dump();
    throw err;
  }
});

test("an attempt abandoned for new inputs is taken over: the next attempt's failure removes its objects too", { timeout: 60_000 }, async (t) => {
  const { env, paths } = await startShadowTest(t, NS);
  try {
    const deployments = env.watch(`/apis/apps/v1/namespaces/${NS}/deployments`, 'shadow-web');
    await env.startController();
    // Attempt 1 applies everything and waits for a pod that never becomes Ready.
    await env.apply(tunnelWorkload(NS, 'web', { 'ghostwire.dev/tunnel': 'true', 'ghostwire.dev/tunnelTimeout': '5m' }));
    await waitFor('the shadow objects of attempt 1', 30_000, async () => (await env.exists(paths.deployment)) && (await env.exists(paths.ingress)));
    const first = await env.getJson(paths.deployment);
    // New inputs abandon it; attempt 2 finds the objects in place and times out after 2 s.
    await env.kubectl(['-n', NS, 'annotate', 'deployment', 'web', '--overwrite', 'ghostwire.dev/tunnelTimeout=2s']);
    const failed = await waitFor('status Failed', 30_000, async () => {
      const s = await env.status('web');
      return s?.phase === 'Failed' ? s : undefined;
    });
    assert.match(failed.reason!, /^not ready after 2s: waiting for /);
    assert.ok(env.controllerLines().some((l) => l.msg.startsWith('shadow attempt abandoned')), 'attempt 1 was abandoned');
    // What attempt 1 created is removed with attempt 2's failure (by uid: attempt 1's Deployment is the one deleted).
    await waitFor('a quiet moment with nothing of the abandoned attempt left', 20_000, async () => {
      if ((await env.status('web'))?.phase !== 'Failed') return false;
      for (const p of [paths.deployment, paths.service, paths.ingress, paths.policy]) if (await env.exists(p)) return false;
      return true;
    });
    const removed = env.controllerLines().find((l) => l.msg === 'removed the objects of the failed attempt');
    assert.deepEqual(removed?.deleted, ['NetworkPolicy/shop/shadow-web', 'Service/shop/shadow-web', 'Deployment/shop/shadow-web', 'Ingress/shop/shadow-web']);
    await waitFor("attempt 1's Deployment deleted by its uid", 10_000, async () =>
      deployments.records.some((r) => r.type === 'DELETED' && r.uid === first.metadata.uid),
    );
  } catch (err) {
    env.dump();
    throw err;
  }
});
