// The one way ghostwire writes a core/v1 Event (the webhook, the shadow controller and the watcher use it), so
// `kubectl describe` shows them alike.
import type { EventIntent, OwnerRef } from './objects.js';

export interface Reporter {
  /** e.g. "ghostwire.dev/injector"; source.component is the part after the slash. */
  component: string;
  /** The reporting pod (or host) name. */
  instance: string;
}

export interface EventObject {
  apiVersion: 'v1';
  kind: 'Event';
  metadata: { generateName: string; namespace: string };
  involvedObject: { apiVersion: string; kind: string; name: string; namespace: string; uid: string };
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
  count: number;
  firstTimestamp: Date;
  lastTimestamp: Date;
  source: { component: string };
  reportingComponent: string;
  reportingInstance: string;
}

/** Events are small: longer messages are cut, and the name prefix stays within the 253-character name limit. */
export const MAX_EVENT_MESSAGE = 1024;

export function eventObject(intent: EventIntent & { regarding: OwnerRef }, reporter: Reporter, now: Date, count = 1): EventObject {
  const r = intent.regarding;
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { generateName: `${r.name.slice(0, 200)}.`, namespace: r.namespace },
    involvedObject: { apiVersion: r.apiVersion, kind: r.kind, name: r.name, namespace: r.namespace, uid: r.uid },
    reason: intent.reason,
    message: intent.message.length > MAX_EVENT_MESSAGE ? `${intent.message.slice(0, MAX_EVENT_MESSAGE - 3)}...` : intent.message,
    type: intent.type,
    count,
    firstTimestamp: now,
    lastTimestamp: now,
    source: { component: reporter.component.slice(reporter.component.indexOf('/') + 1) },
    reportingComponent: reporter.component,
    reportingInstance: reporter.instance.slice(0, 128),
  };
}
