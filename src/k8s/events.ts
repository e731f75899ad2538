// Kubernetes Events for `kubectl describe`, recorded asynchronously and bounded: an admission never waits on it,
// and a failing API server cannot grow memory without limit.
//
// Nothing an AdmissionReview claims is trusted for this side effect: the object is read back from the API server
// (at CREATE it has no UID yet, so it is polled for a few seconds), and an Event is written only on an object that
// exists, with the UID the API server reports. A forged review naming an object that does not exist, or a UID that
// is not the stored object's, writes nothing.
import { hostname } from 'node:os';
import { CoreV1Api, KubernetesObjectApi, type KubeConfig, type CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { type Reporter, eventObject } from '../kube/event.js';
import type { EventIntent, ObjectRef, OwnerRef } from '../kube/objects.js';
import { describeApiError, statusCode } from './api-errors.js';
import { sleep } from '../util/sleep.js';

export interface EventRecorder {
  record: (intent: EventIntent) => void;
  /** Resolves once everything queued so far was written or given up on (tests and shutdown). */
  flush: () => Promise<void>;
}

const MAX_QUEUE = 500;
const PARALLEL = 8;
const RESOLVE_ATTEMPTS = 20;
const RESOLVE_DELAY_MS = 250;

export function createEventRecorder(kc: KubeConfig, log: Logger, component: string, onDrop: () => void): EventRecorder {
  const core = kc.makeApiClient(CoreV1Api);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const reporter: Reporter = { component, instance: process.env.POD_NAME ?? hostname() };
  const queue: EventIntent[] = [];
  let running: Promise<void> | undefined;

  /** Namespaces where RBAC denied a read, each said once (bounded: the namespace comes from the request). */
  const forbiddenSaid = new Set<string>();

  /**
   * The stored object's identity; undefined when it never appears or is not the object the intent names;
   * 'forbidden' at once when RBAC denies the read (the chart grants it only in the opted-in namespaces).
   */
  async function resolve(ref: ObjectRef): Promise<OwnerRef | 'forbidden' | undefined> {
    for (let i = 0; i < RESOLVE_ATTEMPTS; i++) {
      try {
        const obj = await objects.read({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace } });
        const uid = obj.metadata?.uid;
        if (uid) return ref.uid === undefined || ref.uid === uid ? { ...ref, uid } : undefined;
      } catch (err) {
        if (statusCode(err) === 403) return 'forbidden';
        // Not stored yet (or denied by a later admission plugin, or never existed): retry a few times, then give up.
      }
      await sleep(RESOLVE_DELAY_MS);
    }
    return undefined;
  }

  async function write(intent: EventIntent): Promise<void> {
    const regarding = await resolve(intent.regarding);
    if (regarding === 'forbidden') {
      onDrop();
      const ns = intent.regarding.namespace.slice(0, 63);
      if (!forbiddenSaid.has(ns) && forbiddenSaid.size < 1000) {
        forbiddenSaid.add(ns);
        log.warn({ namespace: ns }, 'events not recorded in this namespace: no RBAC to read the objects there (list the namespace in the chart\'s injectedNamespaces)');
      }
      return;
    }
    if (!regarding) {
      onDrop();
      log.debug({ kind: intent.regarding.kind, name: intent.regarding.name.slice(0, 253) }, 'event dropped: no such object');
      return;
    }
    try {
      await core.createNamespacedEvent({ namespace: regarding.namespace, body: eventObject({ ...intent, regarding }, reporter, new Date()) as CoreV1Event });
    } catch (err) {
      onDrop();
      log.warn({ kind: regarding.kind, name: regarding.name, err: describeApiError(err) }, 'event not recorded');
    }
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) await Promise.all(queue.splice(0, PARALLEL).map(write));
    running = undefined;
  }

  return {
    record: (intent) => {
      if (queue.length >= MAX_QUEUE) {
        onDrop();
        return;
      }
      queue.push(intent);
      running ??= drain();
    },
    flush: async () => {
      while (running) await running;
    },
  };
}
