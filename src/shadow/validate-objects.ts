// Structural checks of rendered shadow objects before anything is applied: names, namespaces, labels, the one
// Ingress host, ports, selectors, resources and security contexts.
import { isDns1035Label, isDns1123Label, isDns1123Subdomain, isLabelValue } from '../config/validate.js';
import { refKey } from '../kube/objects.js';
import type { ShadowIdentity } from './identity.js';
import type { ShadowDeployment, ShadowIngress, ShadowObject, ShadowService } from './manifests.js';
import { refOf } from './object-refs.js';

/** Structural checks before anything is applied; an empty list means the objects are valid. */
export function validateShadowObjects(objects: readonly ShadowObject[], identity: ShadowIdentity): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const o of objects) {
    const where = `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
    if (seen.has(refKey(refOf(o)))) out.push(`${where}: rendered twice`);
    seen.add(refKey(refOf(o)));
    const nameOk = o.kind === 'Service' ? isDns1035Label(o.metadata.name) : isDns1123Label(o.metadata.name);
    if (!nameOk) out.push(`${where}: name is not a ${o.kind === 'Service' ? 'DNS-1035' : 'DNS-1123'} label of at most 63 characters`);
    if (o.metadata.namespace !== identity.namespace) out.push(`${where}: namespace differs from the workload's (${identity.namespace})`);
    for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
      if (!isLabelValue(v)) out.push(`${where}: label ${k}=${JSON.stringify(v)} is not a valid label value`);
    }
    if (o.kind === 'Ingress') {
      const spec = (o as ShadowIngress).spec;
      const hosts = (spec?.rules ?? []).map((r) => r.host);
      if (hosts.length !== 1 || hosts[0] !== identity.host) out.push(`${where}: rule host must be exactly ${identity.host}`);
      for (const t of spec?.tls ?? []) {
        if (JSON.stringify(t.hosts) !== JSON.stringify([identity.host])) out.push(`${where}: TLS hosts must be exactly [${identity.host}]`);
        if (t.secretName !== identity.tlsSecretName) out.push(`${where}: TLS secret must be ${identity.tlsSecretName}`);
      }
      if (!isDns1123Subdomain(identity.host)) out.push(`${where}: host ${identity.host} is not a DNS name`);
    }
    if (o.kind === 'Service') {
      const names = new Set<string>();
      const numbers = new Set<string>();
      for (const p of (o as ShadowService).spec?.ports ?? []) {
        if (!p.name || names.has(p.name)) out.push(`${where}: port name ${JSON.stringify(p.name)} missing or duplicated`);
        names.add(p.name ?? '');
        const key = `${p.port}/${p.protocol}`;
        if (numbers.has(key)) out.push(`${where}: port ${key} listed twice`);
        numbers.add(key);
        if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) out.push(`${where}: port ${p.port} out of range`);
      }
    }
    if (o.kind === 'Deployment') {
      const spec = (o as ShadowDeployment).spec;
      const selector = spec?.selector.matchLabels ?? {};
      const podLabels = spec?.template.metadata?.labels ?? {};
      if (Object.entries(selector).some(([k, v]) => podLabels[k] !== v)) out.push(`${where}: selector does not match the pod labels`);
      for (const c of spec?.template.spec?.containers ?? []) {
        if (!c.resources?.requests || !c.resources.limits) out.push(`${where}: container ${c.name} has no resource requests/limits`);
        if (c.securityContext?.allowPrivilegeEscalation !== false) out.push(`${where}: container ${c.name} allows privilege escalation`);
        const drop = c.securityContext?.capabilities?.drop ?? [];
        if (!drop.includes('ALL')) out.push(`${where}: container ${c.name} does not drop ALL capabilities`);
      }
    }
  }
  return out;
}
