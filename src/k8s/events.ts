// Kubernetes Events for `kubectl describe`. Recording is asynchronous and bounded: an admission never waits on it,
// and a failing API server cannot grow memory without limit.
import { hostname } from 'node:os';
import { CoreV1Api, KubernetesObjectApi, type KubeConfig, type CoreV1Event } from '@kubernetes/client-node';
import type { EventIntent, ObjectRef } from '../admission/mutate.js';
import type { Logger } from '../log.js';
import { apiErrorMessage } from './client.js';

export interface EventRecorder {
  record: (intent: EventIntent) => void;
  /** Resolves once everything queued so far was written or given up on (tests and shutdown). */
  flush: () => Promise<void>;
}

const MAX_QUEUE = 500;
const UID_ATTEMPTS = 20;
const UID_DELAY_MS = 250;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createEventRecorder(kc: KubeConfig, log: Logger, onDrop: () => void): EventRecorder {
  const core = kc.makeApiClient(CoreV1Api);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const instance = hostname();
  const queue: EventIntent[] = [];
  let running: Promise<void> | undefined;

  // At CREATE the object has no UID yet (it is assigned after admission). kubectl describe matches Events by
  // UID, so wait for the stored object and take its UID.
  async function resolve(ref: ObjectRef): Promise<ObjectRef | undefined> {
    if (ref.uid) return ref;
    for (let i = 0; i < UID_ATTEMPTS; i++) {
      try {
        const obj = await objects.read({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace } });
        if (obj.metadata?.uid) return { ...ref, uid: obj.metadata.uid };
      } catch {
        // Not stored yet (or denied by a later admission plugin): retry a few times, then give up.
      }
      await sleep(UID_DELAY_MS);
    }
    return undefined;
  }

  async function write(intent: EventIntent): Promise<void> {
    const ref = await resolve(intent.regarding);
    if (!ref) {
      onDrop();
      log.debug({ kind: intent.regarding.kind, name: intent.regarding.name }, 'event dropped: object never appeared');
      return;
    }
    const now = new Date();
    const body: CoreV1Event = {
      metadata: { generateName: `${ref.name}.`, namespace: ref.namespace },
      involvedObject: { apiVersion: ref.apiVersion, kind: ref.kind, name: ref.name, namespace: ref.namespace, uid: ref.uid },
      reason: intent.reason,
      message: intent.message,
      type: intent.type,
      source: { component: 'ghostwire' },
      reportingComponent: 'ghostwire.dev/injector',
      reportingInstance: instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      await core.createNamespacedEvent({ namespace: ref.namespace, body });
    } catch (err) {
      onDrop();
      log.warn({ kind: ref.kind, name: ref.name, err: apiErrorMessage(err) }, 'event not recorded');
    }
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.splice(0, 8);
      await Promise.all(batch.map(write));
    }
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
