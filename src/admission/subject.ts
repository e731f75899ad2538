// Step 1 of mutate(): what is being admitted. The request's object, its pod template, the annotation layers that
// configure it and what ghostwire injected before, or the reason there is nothing to mutate.
import { STATUS_ANNOTATION, type Annotations, type FieldError, resolveEnabled } from '../config/index.js';
import { type InjectionStatus, parseStatusAnnotation } from '../inject/render.js';
import type { KubeObject, ObjectMeta, PodTemplate } from '../kube/objects.js';
import { type MutationOutcome, describeObject, eventTarget, invalidObject, skipped } from './outcome.js';
import { metadataProblem, podSpecProblem, templateProblem } from './review.js';
import { type TargetKind, selectTarget } from './target.js';
import type { AdmissionRequest } from './types.js';

export interface Subject {
  req: AdmissionRequest;
  object: KubeObject;
  namespace: string;
  kind: TargetKind;
  isPod: boolean;
  objectMeta: ObjectMeta;
  template: PodTemplate;
  /** JSON pointer (escaped) of the template, '' for a Pod. */
  pointer: string;
  /** Annotation layers, lowest first: the object's (workloads only), then the pod template's. */
  layers: Annotations[];
  enabled: { enabled: boolean; error?: FieldError };
  /** ghostwire's status on the template when it was injected before. */
  previous: Partial<InjectionStatus> | undefined;
  /** "Deployment shop/orders", for messages. */
  what: string;
}

export function selectSubject(req: AdmissionRequest): Subject | MutationOutcome {
  if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return skipped('operation');
  const object = req.object;
  if (!object) return skipped('no-object');
  // Everything below reads the object: its shape is checked first, so a forged or hand-made object is denied
  // naming the field instead of failing somewhere inside the pipeline.
  const metaProblem = metadataProblem(object.metadata, 'metadata');
  if (metaProblem) return invalidObject(req.kind.kind, req.namespace, object, metaProblem);
  const namespace = req.namespace || object.metadata?.namespace || 'default';
  const target = selectTarget(req.kind.group, req.kind.kind, object);
  if (!target.found) {
    if (target.reason === 'workload-ref' && resolveEnabled([object.metadata?.annotations]).enabled) {
      return skipped('workload-ref', {
        warnings: [`ghostwire: ${target.detail}`],
        event: { type: 'Warning', reason: 'GhostwireSkipped', message: target.detail, regarding: eventTarget(req, object, namespace, false) },
      });
    }
    return skipped(target.reason);
  }
  const { template, objectMeta, isPod } = target;
  const shapeProblem = isPod ? podSpecProblem(object.spec, 'spec') : templateProblem(template, target.kind.templatePath.join('.'));
  if (shapeProblem) return invalidObject(req.kind.kind, namespace, object, shapeProblem);
  const layers = isPod ? [template.metadata?.annotations] : [object.metadata?.annotations, template.metadata?.annotations];
  return {
    req,
    object,
    namespace,
    kind: target.kind,
    isPod,
    objectMeta,
    template,
    pointer: target.pointer,
    layers,
    enabled: resolveEnabled(layers),
    previous: parseStatusAnnotation(template.metadata?.annotations?.[STATUS_ANNOTATION]),
    what: describeObject(req.kind.kind, namespace, objectMeta),
  };
}

export const isOutcome = (v: Subject | MutationOutcome): v is MutationOutcome => 'allowed' in v;
