// Interface stub: the shadow-tunnel module provides the real implementation.
import type { InjectConfig, NetworkConfig, TunnelPort } from '../config/index.js';

export interface TunnelAnnotationInput {
  workloadName: string;
  namespace: string;
  config: InjectConfig;
  network: NetworkConfig;
  containerPorts: TunnelPort[];
  tunnelKey: string;
}
export interface TunnelAnnotations { set: Record<string, string>; remove: string[]; errors: string[] }

export function tunnelAnnotations(input: TunnelAnnotationInput): TunnelAnnotations {
  return { set: {}, remove: [], errors: input.config.tunnel ? ['tunnel support is not built yet'] : [] };
}
