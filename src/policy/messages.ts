// The webhook's warnings for objects it does not inject, as templates rendered two ways: in TypeScript (the unit
// tests compare these with what admission/mutate.ts says for the same object) and in CEL (the warning policy).
// PURE.
import { selectTarget } from '../admission/target.js';
import { str } from './cel.js';

type Template<K extends string> = (vars: Record<K, string>) => string;

/** admission/skip-policy.ts: a namespace ghostwire never injects. */
export const namespaceSkipped: Template<'ns' | 'reason' | 'what'> = ({ ns, reason, what }) =>
  `ghostwire does not inject in namespace ${ns} (${reason}); ${what} runs without traffic switching`;

/** admission/skip-policy.ts: hostNetwork. */
export const hostNetworkSkipped: Template<'what'> = ({ what }) =>
  `ghostwire does not inject pods with hostNetwork: true: its rules would apply to the whole node; ${what} runs without traffic switching`;

/** admission/skip-policy.ts: hostNetwork turned on for an injected workload, which loses ghostwire's parts. */
export const hostNetworkRemoved: Template<'what'> = ({ what }) =>
  `ghostwire removed ghostwire-init and ghostwire-watcher from ${what}: with hostNetwork: true their rules would apply to the whole node; it runs without traffic switching`;

/** admission/skip-policy.ts: an invalid ghostwire.dev/enabled in warn mode. */
export const enabledInvalid: Template<'problem' | 'state'> = ({ problem, state }) => `ghostwire: ${problem}; the workload stays ${state}`;

/** admission/configure.ts: a tolerated invalid annotation in warn mode. */
export const fallback: Template<'problem'> = ({ problem }) => `ghostwire: ${problem}; using the default instead`;

/** admission/subject.ts: a Rollout without a template (the text is the webhook's own, from selectTarget()). */
export const workloadRefSkipped: Template<'kind' | 'name'> = ({ kind, name }) => {
  const t = selectTarget('argoproj.io', 'Rollout', { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', spec: { workloadRef: { kind, name } } });
  if (t.found) throw new Error('a Rollout with workloadRef has no template');
  return `ghostwire: ${t.detail}`;
};

/** CEL: the template with each variable replaced by a CEL string expression. */
export function celMessage<K extends string>(template: Template<K>, exprs: Record<K, string>): string {
  const marks = Object.fromEntries(Object.keys(exprs).map((k) => [k, `\u0000${k}\u0000`])) as Record<K, string>;
  return template(marks)
    .split(/(\u0000[A-Za-z]+\u0000)/)
    .filter((piece) => piece !== '')
    .map((piece) => (/^\u0000[A-Za-z]+\u0000$/.test(piece) ? `(${exprs[piece.slice(1, -1) as K]})` : str(piece)))
    .join(' + ');
}
