// What the shadow controller tells the workload's owner: the ghostwire.dev/tunnel-status annotation (written only
// when it changed) and an Event on each phase transition.
import { TUNNEL_STATUS_ANNOTATION } from '../config/options.js';
import { eventObject } from '../kube/event.js';
import {
  type Clock,
  EVENT_COMPONENT,
  EVENT_REASONS,
  type ShadowApi,
  type ShadowLog,
  StatusWriteError,
  type Workload,
  errorMessage,
  ownerOf,
  workloadKey,
  workloadRef,
} from './api.js';
import { type ShadowPhase, type ShadowStatus, formatStatus } from './status.js';

export class StatusWriter {
  constructor(private readonly o: { api: ShadowApi; log: ShadowLog; clock: Clock; instance?: string | undefined }) {}

  /** Write the status when it changed; record an Event on each phase transition. Throws StatusWriteError. */
  async set(w: Workload, previous: ShadowStatus | undefined, next: ShadowStatus): Promise<void> {
    const value = formatStatus(next);
    if (w.metadata.annotations?.[TUNNEL_STATUS_ANNOTATION] === value) return;
    await this.write(w, value);
    if (previous?.phase !== next.phase) {
      const message =
        next.phase === 'Ready'
          ? `Shadow tunnel ready at ${next.endpoint ?? '?'} (${next.mode ?? '?'})`
          : next.phase === 'Pending'
            ? `Creating the shadow tunnel for ${next.endpoint ?? '?'} (${next.mode ?? '?'})`
            : `Shadow tunnel failed: ${next.reason ?? 'unknown reason'}`;
      await this.event(w, next.phase === 'Failed' ? 'Warning' : 'Normal', EVENT_REASONS[next.phase as ShadowPhase], message);
    }
  }

  async write(w: Workload, value: string | null): Promise<void> {
    try {
      await this.o.api.patchAnnotations(workloadRef(w), { [TUNNEL_STATUS_ANNOTATION]: value });
    } catch (err) {
      throw new StatusWriteError(`cannot write ${TUNNEL_STATUS_ANNOTATION} on ${w.kind} ${w.metadata.namespace}/${w.metadata.name}: ${errorMessage(err)}`);
    }
    // Keep the in-memory copy in step, so a later write in the same reconcile compares against what is stored.
    const annotations = { ...(w.metadata.annotations ?? {}) };
    if (value === null) delete annotations[TUNNEL_STATUS_ANNOTATION];
    else annotations[TUNNEL_STATUS_ANNOTATION] = value;
    w.metadata.annotations = annotations;
  }

  /** Events are best effort (as everywhere in Kubernetes): a failure is logged, the status remains the record. */
  async event(w: Workload, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const reporter = { component: EVENT_COMPONENT, instance: this.o.instance ?? 'ghostwire-shadow' };
    try {
      await this.o.api.createEvent(eventObject({ type, reason, message, regarding: ownerOf(w) }, reporter, new Date(this.o.clock.now())));
    } catch (err) {
      this.o.log.warn({ workload: workloadKey(w), reason }, `cannot record event: ${errorMessage(err)}`);
    }
  }
}
