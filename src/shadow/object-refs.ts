// Which objects a shadow is made of, as references (apply, read back, delete by uid).
import type { ObjectRef } from '../kube/objects.js';
import type { ShadowIdentity } from './identity.js';

/** Every object a shadow of this identity can own, in delete order (both modes, the keys Secret last). */
export function shadowObjectRefs(identity: ShadowIdentity): ObjectRef[] {
  const ns = identity.namespace;
  return [
    { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace: ns, name: identity.name },
    { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: identity.name },
    { apiVersion: 'v1', kind: 'Service', namespace: ns, name: identity.name },
    { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', namespace: ns, name: identity.name },
    { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: identity.wgConfigName },
    { apiVersion: 'v1', kind: 'Secret', namespace: ns, name: identity.keysSecretName },
  ];
}

export const refOf = (o: { apiVersion: string; kind: string; metadata: { name: string; namespace: string } }): ObjectRef => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  namespace: o.metadata.namespace,
  name: o.metadata.name,
});
