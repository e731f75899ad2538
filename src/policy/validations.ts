// The checks of the two validating policies: what the webhook refuses (deny), and what it only says (warn), with
// the audit annotations the webhook writes. PURE.
import { LIMITS } from '../admission/limits.js';
import { ENABLED_ANNOTATION } from '../config/options.js';
import { boundWarningsCel, joinWithinCel } from './bounds-cel.js';
import { type Fresh, bind, str } from './cel.js';
import { enabledInvalid, fallback, celMessage, hostNetworkRemoved, hostNetworkSkipped, namespaceSkipped, workloadRefSkipped } from './messages.js';
import { problemText } from './option-rules.js';
import { BOOL, type Variable, v } from './subject-cel.js';

export interface Validation {
  expression: string;
  messageExpression: string;
  reason?: 'Invalid';
}

const configuring = `${v('action')} == 'configure'`;

/** The webhook's denial head and its words for problems left out (admission/configure.ts denialMessage). */
const moreProblems = (n: string) => `'and ' + string(${n}) + ' more problem' + (${n} == 1 ? '' : 's')`;

/** CEL: `head` (a CEL string) and the problems, as many as fit in LIMITS.denialBytes with the head. */
export function boundedDenial(head: string, problems: string, f: Fresh): string {
  return bind(f, head, (h) => `${h} + ${joinWithinCel(problems, '; ', `${LIMITS.denialBytes} - bytes(${h}).size()`, moreProblems, f)}`);
}

/** The refusal texts, bounded as the webhook bounds its denial. */
export function denialVariables(f: Fresh): Variable[] {
  return [
    { name: 'denial', expression: boundedDenial(`'ghostwire: invalid configuration for ' + ${v('what')} + ': '`, v('problems'), f) },
    {
      name: 'defaultsDenial',
      expression: boundedDenial(`'ghostwire: the defaults (ConfigMap ' + params.metadata.namespace + '/' + params.metadata.name + ') are invalid, so ghostwire injects nothing: '`, v('defaultsProblems'), f),
    },
  ];
}

export function denyValidations(): Validation[] {
  return [
    { expression: `!(${configuring}) || ${v('defaultsProblems')}.size() == 0`, messageExpression: v('defaultsDenial'), reason: 'Invalid' },
    { expression: `!(${configuring}) || ${v('warnMode')} || ${v('problems')}.size() == 0`, messageExpression: v('denial'), reason: 'Invalid' },
    { expression: `!(${configuring}) || !${v('tunnelRefused')}`, messageExpression: v('tunnelDenial'), reason: 'Invalid' },
  ];
}

/**
 * The webhook's warnings for this admission, in its order (admission/skip-policy.ts, admission/configure.ts), then
 * bounded as it bounds them (admission/limits.ts): each warning is one validation of the warning policy.
 */
export function warningVariables(f: Fresh): Variable[] {
  const last = `${v('enabledValues')}[${v('enabledValues')}.size() - 1]`;
  const ref = (k: string, absent: string) => `has(object.spec.workloadRef.${k}) ? object.spec.workloadRef.${k} : ${str(absent)}`;
  const p = f.next('p');
  const byAction: Array<[string, string]> = [
    [`${v('action')} == 'workload-ref'`, `${v('objectEnabled')} ? [${celMessage(workloadRefSkipped, { kind: ref('kind', 'workload'), name: ref('name', '') })}] : []`],
    [`${v('action')} in ['system-namespace', 'own-namespace']`, `${v('enabledOn')} ? [${celMessage(namespaceSkipped, { ns: v('ns'), reason: v('action'), what: v('what') })}] : []`],
    // After the mutation the policy cannot tell a removal from a skip by the object: the stored one tells.
    [`${v('action')} == 'host-network'`, `[${v('oldPrevious')} ? ${celMessage(hostNetworkRemoved, { what: v('what') })} : ${celMessage(hostNetworkSkipped, { what: v('what') })}]`],
    [
      `${v('action')} == 'not-enabled'`,
      `${v('enabledError')} ? [${celMessage(enabledInvalid, {
        problem: problemText(ENABLED_ANNOTATION, last, BOOL.allowed(last, f), f),
        state: `${v('previous')} ? 'injected as it is' : 'off'`,
      })}] : []`,
    ],
    [configuring, `${v('notices')} + (${v('warnMode')} ? ${v('problems')}.map(${p}, ${celMessage(fallback, { problem: p })}) : [])`],
  ];
  const list = byAction.reduceRight((rest, [when, then]) => `(${when} ? (${then}) :\n${rest})`, '[]');
  return [
    { name: 'warnings', expression: list },
    { name: 'boundedWarnings', expression: boundWarningsCel(v('warnings'), f) },
  ];
}

export function warnValidations(): Validation[] {
  return Array.from({ length: LIMITS.warnings }, (_, i) => ({ expression: `${v('boundedWarnings')}.size() <= ${i}`, messageExpression: `${v('boundedWarnings')}[${i}]` }));
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
