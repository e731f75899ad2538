// The checks of the two validating policies: what the webhook refuses (deny), and what it only says (warn), with
// the audit annotations the webhook writes. PURE.
import { ENABLED_ANNOTATION } from '../config/options.js';
import { type Fresh, str } from './cel.js';
import { enabledInvalid, fallback, celMessage, hostNetworkRemoved, hostNetworkSkipped, namespaceSkipped, workloadRefSkipped } from './messages.js';
import { problemText } from './option-rules.js';
import { BOOL, v } from './subject-cel.js';

export interface Validation {
  expression: string;
  messageExpression: string;
  reason?: 'Invalid';
}

/** How many notices and tolerated problems get a warning each; the rest share one. */
export const MAX_WARNINGS = 12;

const configuring = `${v('action')} == 'configure'`;

export function denyValidations(): Validation[] {
  return [
    {
      expression: `!(${configuring}) || ${v('defaultsProblems')}.size() == 0`,
      messageExpression: `'ghostwire: the defaults (ConfigMap ' + params.metadata.namespace + '/' + params.metadata.name + ') are invalid, so ghostwire injects nothing: ' + ${v('defaultsProblems')}.join('; ')`,
      reason: 'Invalid',
    },
    { expression: `!(${configuring}) || ${v('warnMode')} || ${v('problems')}.size() == 0`, messageExpression: v('denial'), reason: 'Invalid' },
    { expression: `!(${configuring}) || !${v('tunnelRefused')}`, messageExpression: v('tunnelDenial'), reason: 'Invalid' },
  ];
}

function numbered(list: string, when: string, message: (item: string) => string): Validation[] {
  const out: Validation[] = [];
  for (let i = 0; i < MAX_WARNINGS; i++) {
    out.push({ expression: `!(${when} && ${list}.size() > ${i})`, messageExpression: message(`${list}[${i}]`) });
  }
  out.push({
    expression: `!(${when} && ${list}.size() > ${MAX_WARNINGS})`,
    messageExpression: `'ghostwire: ' + string(${list}.size() - ${MAX_WARNINGS}) + ' more: ' + ${list}.slice(${MAX_WARNINGS}, ${list}.size()).join('; ')`,
  });
  return out;
}

export function warnValidations(f: Fresh): Validation[] {
  const last = `${v('enabledValues')}[${v('enabledValues')}.size() - 1]`;
  const ref = (k: string, absent: string) => `has(object.spec.workloadRef.${k}) ? object.spec.workloadRef.${k} : ${str(absent)}`;
  return [
    { expression: `!(${v('action')} == 'workload-ref' && ${v('objectEnabled')})`, messageExpression: celMessage(workloadRefSkipped, { kind: ref('kind', 'workload'), name: ref('name', '') }) },
    {
      expression: `!(${v('action')} in ['system-namespace', 'own-namespace'] && ${v('enabledOn')})`,
      messageExpression: celMessage(namespaceSkipped, { ns: v('ns'), reason: v('action'), what: v('what') }),
    },
    // After the mutation the policy cannot tell a removal from a skip by the object: the stored one tells.
    { expression: `!(${v('action')} == 'host-network' && !${v('oldPrevious')})`, messageExpression: celMessage(hostNetworkSkipped, { what: v('what') }) },
    { expression: `!(${v('action')} == 'host-network' && ${v('oldPrevious')})`, messageExpression: celMessage(hostNetworkRemoved, { what: v('what') }) },
    {
      expression: `!(${v('action')} == 'not-enabled' && ${v('enabledError')})`,
      messageExpression: celMessage(enabledInvalid, {
        problem: problemText(ENABLED_ANNOTATION, last, BOOL.allowed(last, f), f),
        state: `${v('previous')} ? 'injected as it is' : 'off'`,
      }),
    },
    ...numbered(v('notices'), configuring, (item) => item),
    ...numbered(v('problems'), `${configuring} && ${v('warnMode')}`, (item) => celMessage(fallback, { problem: item })),
  ];
}

/**
 * The webhook's audit annotations, as far as a policy can tell (it sees the object after the mutation). An audit
 * annotation's value must be typed string, so each key is always written: `reason` is the webhook's reason code
 * (injected, removed, or the skip reason). The config identity is on the object (status, injected-by): writing it
 * here too would make this policy resolve the whole config again on every admission.
 */
export function auditAnnotations(): Array<{ key: string; valueExpression: string }> {
  const injected = `${configuring} && ${v('previous')}`;
  return [
    { key: 'injected', valueExpression: `${injected} ? 'true' : 'false'` },
    { key: 'reason', valueExpression: `${injected} ? 'injected' : ${v('action')} in ['remove', 'remove-host-network'] ? 'removed' : ${v('action')}` },
  ];
}
