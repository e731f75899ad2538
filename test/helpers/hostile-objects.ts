// Objects with a value of the wrong type or size at every place the admission pipeline reads, one per class. The
// unit tier runs them through mutate(), the server tier over HTTPS: each must be denied naming the field, never
// throw, never answer HTTP 500.
import type { KubeObject } from '../../src/kube/objects.js';

export interface HostileObject {
  name: string;
  object: KubeObject;
  /** The field the denial must name. */
  field: RegExp;
}

/** What a forged JSON body can put where a string belongs: JSON.parse makes this an own property named toString. */
const toStringTrap = (): unknown => JSON.parse('{"toString":1,"valueOf":1}');

function deployment(edit: (d: any) => void): KubeObject {
  const d = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } },
    spec: { template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'app:1', ports: [{ containerPort: 80 }] }] } } },
  };
  edit(d);
  return d as KubeObject;
}

/** A Pod review whose container holds an array nested `depth` levels deep, as JSON text (no recursion anywhere). */
export function deepReview(depth: number): string {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { containers: [{ name: 'c', image: 'c', args: 'DEEP' }] } };
  const request = { uid: 'deep', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'shop', operation: 'CREATE', object: pod };
  return JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request }).replace('"DEEP"', `${'['.repeat(depth)}${']'.repeat(depth)}`);
}

/** An array nested `depth` levels deep, built without recursion. */
export function nested(depth: number): unknown {
  let v: unknown = [];
  for (let i = 1; i < depth; i++) v = [v];
  return v;
}

export function hostileObjects(): HostileObject[] {
  const cases: Array<[string, (d: any) => void, RegExp]> = [
    ['metadata is a string', (d) => (d.metadata = 'web'), /metadata: expected an object, got a string/],
    ['metadata.name with a toString trap', (d) => (d.metadata.name = toStringTrap()), /metadata\.name: expected a string, got an object/],
    ['metadata.name of 300 characters', (d) => (d.metadata.name = 'n'.repeat(300)), /metadata\.name: a string of 300 characters is too long/],
    ['metadata.namespace is a number', (d) => (d.metadata.namespace = 7), /metadata\.namespace: expected a string, got a number/],
    ['metadata.namespace is not a namespace name', (d) => (d.metadata.namespace = 'Shop\nX'), /metadata\.namespace: "Shop\\nX" is not a namespace name/],
    ['annotations is an array', (d) => (d.metadata.annotations = ['ghostwire.dev/enabled']), /metadata\.annotations: expected an object of strings, got an array/],
    ['an annotation value is a number', (d) => (d.metadata.annotations['ghostwire.dev/ipv6'] = 1), /metadata\.annotations\["ghostwire\.dev\/ipv6"\]: expected a string, got a number/],
    ['an annotation value is an object with a toString trap', (d) => (d.metadata.annotations['ghostwire.dev/enabled'] = toStringTrap()), /metadata\.annotations\["ghostwire\.dev\/enabled"\]: expected a string, got an object/],
    ['annotations over 256 KiB', (d) => (d.metadata.annotations['example.com/big'] = 'x'.repeat(300 * 1024)), /metadata\.annotations: \d+ characters exceed the 256 KiB/],
    ['ownerReferences is an object', (d) => (d.metadata.ownerReferences = { kind: 'ReplicaSet' }), /metadata\.ownerReferences: expected an array, got an object/],
    ['an owner reference is a string', (d) => (d.metadata.ownerReferences = ['rs']), /metadata\.ownerReferences\[0\]: expected an object, got a string/],
    ['an owner name is a number', (d) => (d.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 5, uid: 'u' }]), /metadata\.ownerReferences\[0\]\.name: expected a string, got a number/],
    ['the pod template is an array', (d) => (d.spec.template = []), /spec\.template: expected an object, got an array/],
    ['the template metadata is a string', (d) => (d.spec.template.metadata = 'm'), /spec\.template\.metadata: expected an object, got a string/],
    ['a template annotation is a boolean', (d) => (d.spec.template.metadata.annotations = { 'ghostwire.dev/enabled': true }), /spec\.template\.metadata\.annotations\["ghostwire\.dev\/enabled"\]: expected a string, got a boolean/],
    ['the template spec is a number', (d) => (d.spec.template.spec = 3), /spec\.template\.spec: expected an object, got a number/],
    ['containers is an object', (d) => (d.spec.template.spec.containers = { app: {} }), /spec\.template\.spec\.containers: expected an array, got an object/],
    ['a container is null', (d) => d.spec.template.spec.containers.push(null), /spec\.template\.spec\.containers\[1\]: expected an object, got null/],
    ['a container is a string', (d) => (d.spec.template.spec.containers = ['app']), /spec\.template\.spec\.containers\[0\]: expected an object, got a string/],
    ['a container name is a number', (d) => (d.spec.template.spec.containers[0].name = 1), /spec\.template\.spec\.containers\[0\]\.name: expected a string, got a number/],
    ['ports is a string', (d) => (d.spec.template.spec.containers[0].ports = '80'), /spec\.template\.spec\.containers\[0\]\.ports: expected an array, got a string/],
    ['a port is a number', (d) => (d.spec.template.spec.containers[0].ports = [80]), /spec\.template\.spec\.containers\[0\]\.ports\[0\]: expected an object, got a number/],
    ['a port protocol is an object', (d) => (d.spec.template.spec.containers[0].ports[0].protocol = toStringTrap()), /ports\[0\]\.protocol: expected a string, got an object/],
    ['initContainers is a string', (d) => (d.spec.template.spec.initContainers = 'x'), /spec\.template\.spec\.initContainers: expected an array, got a string/],
    ['volumes holds a number', (d) => (d.spec.template.spec.volumes = [5]), /spec\.template\.spec\.volumes\[0\]: expected an object, got a number/],
    // Deeper nesting (100,000 levels) cannot be sent with JSON.stringify; see deepReview().
    ['a container nested 1,000 levels deep', (d) => (d.spec.template.spec.containers[0].args = nested(1000)), /spec\.template\.spec\.containers\[0\]: nested deeper than 64 levels/],
  ];
  const out: HostileObject[] = cases.map(([name, edit, field]) => ({ name, object: deployment(edit), field }));
  out.push({
    name: 'a Pod whose spec.containers is a number',
    object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', annotations: { 'ghostwire.dev/enabled': 'true' } }, spec: { containers: 1 } } as unknown as KubeObject,
    field: /(^|[^.])spec\.containers: expected an array, got a number/,
  });
  return out;
}
