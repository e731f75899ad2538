// The pod-template annotations the injector writes for tunnel workloads. Pure and deterministic: the webhook and
// `ghostwire inject` call this with the same input and get byte-identical output.
//
//   plain:     ghostwire.dev/tunnel-endpoint + ghostwire.dev/tunnel-client-command
//   full mesh: ghostwire.dev/tunnel-endpoint + ghostwire.dev/tunnel-pre-exec (a script naming the keys Secret)
//   off:       nothing set; all three listed in `remove`
// Values are always written whole (never prepended to an existing value), so reruns leave exactly one copy.
import {
  TUNNEL_ANNOTATIONS,
  TUNNEL_CLIENT_COMMAND_ANNOTATION,
  TUNNEL_ENDPOINT_ANNOTATION,
  TUNNEL_PRE_EXEC_ANNOTATION,
} from '../config/options.js';
import { clientCommand, preExecScript } from './remote.js';
import { type ShadowInput, resolveTunnel } from './tunnel.js';

export interface TunnelAnnotationInput extends ShadowInput {}

export interface TunnelAnnotations {
  /** Annotations to write on the pod template. */
  set: Record<string, string>;
  /** ghostwire tunnel annotations to delete (the other mode's, or all of them when the tunnel is off). */
  remove: string[];
  /** Why a tunnel cannot be rendered; the webhook turns these into a denial or warnings. */
  errors: string[];
}

export function tunnelAnnotations(input: TunnelAnnotationInput): TunnelAnnotations {
  if (!input.config.tunnel) return { set: {}, remove: [...TUNNEL_ANNOTATIONS], errors: [] };
  const resolved = resolveTunnel(input);
  // A tunnel that cannot be rendered keeps no stale endpoint or command around.
  if (!resolved.ok) return { set: {}, remove: [...TUNNEL_ANNOTATIONS], errors: resolved.errors };
  const { identity, mode, ports, prefix } = resolved.tunnel;
  if (mode === 'plain') {
    return {
      set: {
        [TUNNEL_ENDPOINT_ANNOTATION]: identity.host,
        [TUNNEL_CLIENT_COMMAND_ANNOTATION]: clientCommand(identity, input.network, prefix, ports),
      },
      remove: [TUNNEL_PRE_EXEC_ANNOTATION],
      errors: [],
    };
  }
  return {
    set: {
      [TUNNEL_ENDPOINT_ANNOTATION]: identity.host,
      [TUNNEL_PRE_EXEC_ANNOTATION]: preExecScript(identity, input.network, prefix),
    },
    remove: [TUNNEL_CLIENT_COMMAND_ANNOTATION],
    errors: [],
  };
}
