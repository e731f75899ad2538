// A status write that the API server refuses, for real: a ValidatingAdmissionPolicy denies every change of
// ghostwire.dev/tunnel-status on Deployments in the namespace. The controller must surface the error (logged with the
// API's message), apply nothing before Pending is recorded, retry with backoff, and converge once the policy goes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from './harness.js';
import { startShadowTest, tunnelWorkload } from './shadow-env.js';

const NS = 'shop';
const POLICY = 'freeze-tunnel-status';
const DENIED = 'e2e: ghostwire.dev/tunnel-status is frozen';

const statusOf = (side: 'object' | 'oldObject'): string =>
  `(has(${side}.metadata.annotations) && 'ghostwire.dev/tunnel-status' in ${side}.metadata.annotations ? ${side}.metadata.annotations['ghostwire.dev/tunnel-status'] : '')`;

const policy = [
  'apiVersion: admissionregistration.k8s.io/v1',
  'kind: ValidatingAdmissionPolicy',
  `metadata: {name: ${POLICY}}`,
  'spec:',
  '  failurePolicy: Fail',
  '  matchConstraints:',
  '    resourceRules:',
  '    - {apiGroups: [apps], apiVersions: [v1], operations: [UPDATE], resources: [deployments]}',
  '  validations:',
  `  - expression: "${statusOf('object')} == ${statusOf('oldObject')}"`,
  `    message: "${DENIED}"`,
  '---',
  'apiVersion: admissionregistration.k8s.io/v1',
  'kind: ValidatingAdmissionPolicyBinding',
  `metadata: {name: ${POLICY}}`,
  'spec:',
  `  policyName: ${POLICY}`,
  '  validationActions: [Deny]',
  `  matchResources: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ${NS}}}}`,
  '',
].join('\n');

test('a denied status write is surfaced and retried with backoff; nothing is applied until Pending is recorded', { timeout: 90_000 }, async (t) => {
  const { cp, env, paths } = await startShadowTest(t, NS);
  try {
    await env.apply(policy);
    // The API server loads policies asynchronously: wait until a dry-run write of the annotation is denied.
    await env.apply(tunnelWorkload(NS, 'probe', { 'ghostwire.dev/tunnel': 'false' }));
    await waitFor('the policy to be enforced', 30_000, async () => {
      const r = await cp.api(
        'PATCH',
        `/apis/apps/v1/namespaces/${NS}/deployments/probe?dryRun=All`,
        { metadata: { annotations: { 'ghostwire.dev/tunnel-status': '{"phase":"Pending"}' } } },
        'application/merge-patch+json',
      );
      return r.status >= 400 && JSON.stringify(r.body).includes(DENIED);
    });

    await env.startController();
    await env.apply(tunnelWorkload(NS, 'web', { 'ghostwire.dev/tunnel': 'true', 'ghostwire.dev/tunnelTimeout': '2m' }));

    // Surfaced: a reconcile error with the API's message, then retries on an exponential backoff.
    const retries = await waitFor('two backoff retries of the status write', 30_000, async () => {
      const r = env.controllerLines().filter((l) => l.msg.startsWith('will retry: cannot write ghostwire.dev/tunnel-status') && l.workload === 'Deployment/shop/web');
      return r.length >= 2 ? r : undefined;
    });
    assert.deepEqual(retries.slice(0, 2).map((l) => l.retryInMs), [1000, 2000]);
    const errors = env.controllerLines().filter((l) => l.level === 'error' && l.msg.startsWith('reconcile error: cannot write ghostwire.dev/tunnel-status on Deployment shop/web'));
    assert.ok(errors.length >= 2, 'each failed write is logged as an error');
    assert.ok(errors[0]!.msg.includes(DENIED), `the API's message is in the log: ${errors[0]!.msg}`);
    const gap = Date.parse(errors[1]!.time as string) - Date.parse(errors[0]!.time as string);
    assert.ok(gap >= 950, `the second write came ${gap} ms after the first, before its 1 s backoff`);

    // Nothing applied, no status, no Events while Pending cannot be recorded.
    for (const p of Object.values(paths)) assert.equal(await env.exists(p), false, `${p} exists before Pending was recorded`);
    assert.equal(await env.status('web'), undefined);
    assert.deepEqual((await env.events('web')).filter((e) => e.reason.startsWith('Shadow')), []);

    // The policy goes: the next retry records Pending, applies, and (with the pod Ready) reaches Ready.
    await env.kubectl(['delete', 'validatingadmissionpolicybinding', POLICY]);
    await waitFor('status Pending after the policy is removed', 30_000, async () => (await env.status('web'))?.phase === 'Pending');
    await waitFor('the shadow objects', 30_000, async () => (await env.exists(paths.deployment)) && (await env.exists(paths.ingress)));
    await env.nextShadowPod('web', '10.244.0.41', true);
    await waitFor('status Ready', 30_000, async () => (await env.status('web'))?.phase === 'Ready');
    const reasons = await waitFor('the ShadowReady Event', 10_000, async () => {
      const r = (await env.events('web')).map((e) => e.reason).filter((x) => x.startsWith('Shadow'));
      return r.at(-1) === 'ShadowReady' ? r : undefined;
    });
    assert.deepEqual(reasons, ['ShadowPending', 'ShadowReady']);
  } catch (err) {
    env.dump();
    throw err;
  }
});
