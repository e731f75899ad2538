// Namespaces ghostwire never acts in, whatever its configuration or credentials: the webhook never injects there
// and the shadow controller never creates anything there.
export const SYSTEM_NAMESPACES: ReadonlySet<string> = new Set(['kube-system', 'kube-public', 'kube-node-lease']);
