// The defaults document: `config.yaml` in the defaults ConfigMap, or the file given to --defaults.
// Keys are spelled like the annotations; `network` holds the shadow-tunnel settings.
import { parse as parseYaml } from 'yaml';
import { type InjectConfig, OPTION_LIST, OPTION_BY_KEY, builtinConfig } from './options.js';
import { crossFieldProblems, keyOf } from './cross-field.js';
import { type FieldError, fieldError } from './errors.js';
import { ALLOWED_IMAGES_KEY, parseAllowedImages } from './image-policy.js';
import {
  type Parsed,
  parseBoolean,
  parseCidrList,
  parseHostname,
  parseImage,
  parseNonEmptyName,
  oneOf,
} from './validate.js';

export type InvalidAnnotationMode = 'deny' | 'warn';

export interface NetworkConfig {
  enableTunnel: boolean;
  wildcardDNS: string;
  ingressTLS: boolean;
  ingressClusterIssuer: string;
  ingressClassName: string;
  fullMesh: boolean;
  serviceCIDR: string;
  podCIDR: string;
  wstunnelImage: string;
  wireguardImage: string;
}

export interface Defaults {
  /** Per-workload config defaults (annotations override them). */
  config: InjectConfig;
  invalidAnnotations: InvalidAnnotationMode;
  /** Images a ghostwire.dev/image annotation may name besides config.image (see image-policy.ts). */
  allowedImages: string[];
  network: NetworkConfig;
}

/** Keys of the defaults document that are not options: only the administrator sets them, no annotation can. */
export const DEFAULTS_DOCUMENT_KEYS: readonly string[] = ['invalidAnnotations', ALLOWED_IMAGES_KEY, 'network'];

export const BUILTIN_NETWORK: Readonly<NetworkConfig> = {
  enableTunnel: false,
  wildcardDNS: '',
  ingressTLS: false,
  ingressClusterIssuer: 'lets-issuer',
  ingressClassName: 'nginx',
  fullMesh: false,
  serviceCIDR: '10.105.0.0/16',
  podCIDR: '10.244.0.0/16',
  wstunnelImage: 'erebe/wstunnel:v10.1.10',
  wireguardImage: 'linuxserver/wireguard:1.0.20210914',
};

type NetworkSpec = { [K in keyof NetworkConfig]: (raw: string) => Parsed<NetworkConfig[K]> };
const single = (raw: string): Parsed<string> => {
  const r = parseCidrList(raw);
  if (!r.ok || r.value.length !== 1) return { ok: false, allowed: 'one IPv4 or IPv6 CIDR such as "10.96.0.0/12"' };
  return { ok: true, value: r.value[0] as string };
};
const NETWORK_SPEC: NetworkSpec = {
  enableTunnel: parseBoolean,
  wildcardDNS: parseHostname,
  ingressTLS: parseBoolean,
  ingressClusterIssuer: parseNonEmptyName,
  ingressClassName: parseNonEmptyName,
  fullMesh: parseBoolean,
  serviceCIDR: single,
  podCIDR: single,
  wstunnelImage: parseImage,
  wireguardImage: parseImage,
};

export function builtinDefaults(): Defaults {
  return { config: builtinConfig(), invalidAnnotations: 'deny', allowedImages: [], network: { ...BUILTIN_NETWORK } };
}

/** YAML scalars (true, 2, lists) are accepted where the annotation would be a string. */
function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) return value.join(',');
  return undefined;
}

/**
 * Parse and validate a defaults document. `source` names it in errors (e.g. "ConfigMap ghostwire/ghostwire-defaults
 * config.yaml"). Any error rejects the whole document: callers keep the last good one.
 */
export function parseDefaults(text: string, source: string): { defaults: Defaults; errors: FieldError[] } {
  const defaults = builtinDefaults();
  const errors: FieldError[] = [];
  let doc: unknown;
  try {
    doc = text.trim() === '' ? {} : parseYaml(text);
  } catch (err) {
    errors.push(fieldError(source, '(document)', '', `valid YAML (${(err as Error).message.split('\n')[0]})`));
    return { defaults, errors };
  }
  if (doc === null || doc === undefined) doc = {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    errors.push(fieldError(source, '(document)', String(doc), 'a YAML mapping of option keys'));
    return { defaults, errors };
  }
  const config = defaults.config as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    if (key === 'invalidAnnotations') {
      const r = oneOf(['deny', 'warn'] as const)(scalarText(value) ?? '');
      if (r.ok) defaults.invalidAnnotations = r.value;
      else errors.push(fieldError(source, key, scalarText(value) ?? JSON.stringify(value), r.allowed));
      continue;
    }
    if (key === 'network') {
      parseNetwork(value, source, defaults.network, errors);
      continue;
    }
    if (key === ALLOWED_IMAGES_KEY) {
      const raw = scalarText(value);
      const r = raw === undefined ? parseAllowedImages('') : parseAllowedImages(raw);
      if (r.ok) defaults.allowedImages = r.value;
      else errors.push(fieldError(source, key, raw ?? JSON.stringify(value) ?? '', r.allowed));
      continue;
    }
    const opt = OPTION_BY_KEY.get(key);
    if (!opt) {
      errors.push(fieldError(source, key, '', `a known key: ${[...OPTION_BY_KEY.keys(), ...DEFAULTS_DOCUMENT_KEYS].join(', ')}`));
      continue;
    }
    const raw = scalarText(value);
    const r = raw === undefined ? { ok: false as const, allowed: 'a scalar value' } : opt.parse(raw);
    if (r.ok) config[opt.field] = r.value;
    else errors.push(fieldError(source, key, raw ?? JSON.stringify(value), r.allowed));
  }
  errors.push(...crossFieldProblems(defaults.config, source, keyOf).map((p) => p.error));
  // The tunnel defaults follow the network block unless the document set them explicitly.
  const d = doc as Record<string, unknown>;
  if (!('tunnel' in d)) defaults.config.tunnel = defaults.network.enableTunnel;
  if (!('fullMesh' in d)) defaults.config.fullMesh = defaults.network.fullMesh;
  return { defaults, errors };
}

function parseNetwork(value: unknown, source: string, into: NetworkConfig, errors: FieldError[]): void {
  if (value === null || value === undefined) return;
  if (typeof value !== 'object' || Array.isArray(value)) {
    errors.push(fieldError(source, 'network', JSON.stringify(value), 'a mapping of network settings'));
    return;
  }
  const target = into as unknown as Record<string, unknown>;
  let issuerSet = false;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const parser = (NETWORK_SPEC as Record<string, (raw: string) => Parsed<unknown>>)[key];
    if (!parser) {
      errors.push(fieldError(source, `network.${key}`, '', `a known key: ${Object.keys(NETWORK_SPEC).join(', ')}`));
      continue;
    }
    const raw = scalarText(v) ?? '';
    const r = parser(raw);
    if (r.ok) {
      target[key] = r.value;
      if (key === 'ingressClusterIssuer') issuerSet = true;
    } else errors.push(fieldError(source, `network.${key}`, raw, r.allowed));
  }
  if (!issuerSet) into.ingressClusterIssuer = BUILTIN_NETWORK.ingressClusterIssuer;
  if (into.enableTunnel && into.wildcardDNS === '') {
    errors.push(fieldError(source, 'network.wildcardDNS', '', 'a DNS name when network.enableTunnel is true (the tunnel endpoint is <workload>-<namespace>.<wildcardDNS>)'));
  }
}
