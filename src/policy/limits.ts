// What injection by admission policy does not do that the webhook does. `ghostwire policy` prints this list and
// docs/install.md carries it (test/unit/policy-docs.test.ts keeps them together). Each item was checked on the
// real API server (v1.37.2); see test/e2e/policy.test.ts. PURE.

export interface PolicyLimit {
  topic: string;
  text: string;
}

export const POLICY_LIMITS: readonly PolicyLimit[] = [
  { topic: 'Events', text: 'no GhostwireInjected/GhostwireSkipped Events: a policy cannot write objects. The status annotation, warnings and audit annotations remain.' },
  {
    topic: 'Shadow tunnels',
    text: 'a workload asking for a tunnel (ghostwire.dev/tunnel: "true" on a Deployment, StatefulSet or DaemonSet) is refused whole: its upgrade path is signed with the webhook\'s key (HMAC-SHA256), which CEL cannot compute and must not hold.',
  },
  {
    topic: 'Config hash',
    text: 'CEL has no SHA-256 (nor any hash function): the status annotation\'s configHash is "policy:" and 16 hex digits of two polynomial sums over the options that differ from the built-in defaults (src/config/policy-identity.ts), not the webhook\'s SHA-256 prefix; ghostwire.dev/injected-by repeats it where kubectl describe shows it.',
  },
  {
    topic: 'Defaults',
    text: 'the defaults live in a parameter ConfigMap, one key per option, and an invalid edit is refused by the API server. If the ConfigMap is missing, the API server refuses writes of every workload kind in opted-in namespaces, annotated or not (it resolves parameters before matchConditions); the webhook falls back to built-in defaults.',
  },
  { topic: 'Metrics and logs', text: 'no ghostwire_admission_* metrics and no log line per admission; the API server\'s own admission metrics and audit log apply.' },
  {
    topic: 'Message wrapping',
    text: 'the API server prefixes refusals ("ValidatingAdmissionPolicy \'<name>\' with binding \'<name>\' denied request: ") and answers 422 instead of 400; warnings carry "Validation failed for ValidatingAdmissionPolicy \'<name>\' ...: ". The ghostwire text after the prefix is the webhook\'s, bounded as the webhook bounds it (16 warnings, 512 bytes each, 4096 in all; a refusal 4096 bytes); the prefixes count against the API server\'s own warning budget (4096 characters), so with many long warnings it shortens them sooner than the webhook\'s.',
  },
  { topic: 'IPv4-mapped addresses', text: 'excludeCidrs with IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are refused: CEL\'s ip() does not accept them.' },
  {
    topic: 'Edge cases',
    text: 'a ghostwire.dev/status value counts as an earlier injection when it starts like JSON (the webhook parses it); a refusal names an object created with generateName by its generated name (validation runs after the API server chose it).',
  },
];

/** The list as text lines (for the command's output). */
export function limitLines(): string[] {
  return POLICY_LIMITS.map((l) => `- ${l.topic}: ${l.text}`);
}

/** The list as Markdown, for docs/install.md (test/unit/policy-docs.test.ts keeps the page's copy current). */
export function limitsMarkdown(): string {
  return POLICY_LIMITS.map((l) => `- **${l.topic}**: ${l.text}`).join('\n');
}
