// The policy's parameter object: a ConfigMap whose data holds the defaults key by key (CEL cannot read the YAML
// document the webhook's ConfigMap holds). Rendered from a parsed defaults document, so `ghostwire policy
// --defaults FILE` accepts exactly what `ghostwire serve --defaults FILE` accepts, and refuses what only the webhook
// can do. PURE.
import { type Defaults, BUILTIN_NETWORK } from '../config/defaults.js';
import { type FieldError, fieldError } from '../config/errors.js';
import { OPTION_LIST } from '../config/options.js';
import { ALLOWED_IMAGES_KEY } from '../config/image-policy.js';
import { INVALID_ANNOTATIONS_KEY } from './config-cel.js';
import { TUNNEL_NEEDS_WEBHOOK } from './problems-cel.js';

/**
 * The ConfigMap data: the options that differ from the built-in defaults, formatted as an annotation would spell
 * them, invalidAnnotations when it is warn, and allowedImages (as the chart writes only what .Values.defaults sets). A key left out
 * is its built-in default; every key present costs the API server its validation on each admission.
 */
export function parameterData(defaults: Defaults): Record<string, string> {
  const data: Record<string, string> = {};
  for (const o of OPTION_LIST) {
    const value = o.format(defaults.config[o.field] as never);
    if (value !== o.format(o.default as never)) data[o.key] = value;
  }
  if (defaults.invalidAnnotations !== 'deny') data[INVALID_ANNOTATIONS_KEY] = defaults.invalidAnnotations;
  if (defaults.allowedImages.length > 0) data[ALLOWED_IMAGES_KEY] = defaults.allowedImages.join(',');
  return data;
}

/**
 * What a defaults document asks that policy mode cannot do: a tunnel by default is refused (every Deployment would
 * be refused); network settings other than the tunnel switches concern only tunnels and are reported as ignored.
 */
export function policyDefaultsProblems(defaults: Defaults, source: string): { errors: FieldError[]; ignored: string[] } {
  const errors: FieldError[] = [];
  if (defaults.config.tunnel) {
    const field = defaults.network.enableTunnel ? 'network.enableTunnel' : 'tunnel';
    errors.push(fieldError(source, field, 'true', `false in policy mode (${TUNNEL_NEEDS_WEBHOOK})`));
  }
  const ignored = (Object.keys(BUILTIN_NETWORK) as Array<keyof typeof BUILTIN_NETWORK>)
    .filter((k) => k !== 'enableTunnel' && defaults.network[k] !== BUILTIN_NETWORK[k])
    .map((k) => `network.${k}`);
  return { errors, ignored };
}
