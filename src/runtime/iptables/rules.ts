// iptables-restore text for ghostwire's nat chain and for the watcher's jump (PURE: no fs, no child_process).
//
// Rules are written in the canonical form iptables-save prints them in (match order, "-m tcp" after "-p tcp",
// network address of CIDRs, compressed IPv6), so the watcher can compare the kernel's chain with the map rule by
// rule and tell "intact" from "flushed or edited" without false alarms.
import { JUMP_HOOKS, type JumpHook } from '../../config/options.js';
import type { Protocol } from '../../kube/objects.js';
import { hostPort, type Family } from '../../net/address.js';


export interface Exclusion {
  family: Family;
  /** Canonical CIDR (see addr.ts canonicalCidr). */
  cidr: string;
  /** Where it came from: "imds", "dns" (resolv.conf nameserver) or "GW_EXCLUDE_CIDRS". */
  source: string;
}

export interface DnatRule {
  family: Family;
  service: string;
  preview: string;
  protocol: Protocol;
  port: number;
  /** Canonical addresses. */
  activeIP: string;
  previewIP: string;
}

export interface ChainSpec {
  chain: string;
  family: Family;
  exclusions: readonly Exclusion[];
  rules: readonly DnatRule[];
}

const MAX_COMMENT = 256;

/** Double-quoted argument for iptables-restore; control characters can never be quoted, so they are refused. */
export function quoteArg(text: string): string {
  if (/[\x00-\x1f\x7f]/.test(text)) throw new Error(`refusing to write a control character into an iptables rule: ${JSON.stringify(text)}`);
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function comment(text: string): string[] {
  if (text.length > MAX_COMMENT) throw new Error(`iptables comment longer than ${MAX_COMMENT} characters: ${text.slice(0, 40)}...`);
  return ['-m', 'comment', '--comment', quoteArg(text)];
}

export const exclusionComment = (e: Exclusion): string => `ghostwire exclude ${e.source}`;
export const dnatComment = (r: DnatRule): string => `ghostwire ${r.service} -> ${r.preview} ${r.port}/${r.protocol.toLowerCase()}`;

function prefixLen(family: Family): number {
  return family === 4 ? 32 : 128;
}

/** The arguments after "-A <chain>" of one exclusion rule, canonical form. */
export function exclusionArgs(e: Exclusion): string[] {
  return ['-d', e.cidr, ...comment(exclusionComment(e)), '-j', 'RETURN'];
}

/** The arguments after "-A <chain>" of one DNAT rule, canonical form. */
export function dnatArgs(r: DnatRule): string[] {
  const proto = r.protocol.toLowerCase();
  return [
    '-d', `${r.activeIP}/${prefixLen(r.family)}`,
    '-p', proto, '-m', proto, '--dport', String(r.port),
    ...comment(dnatComment(r)),
    '-j', 'DNAT', '--to-destination', hostPort(r.previewIP, r.port),
  ];
}

/** "-A <chain> ..." lines of the chain's content: exclusions first (RETURN before any DNAT), then the DNAT rules. */
export function chainRuleLines(spec: ChainSpec): string[] {
  const out: string[] = [];
  for (const e of spec.exclusions) {
    if (e.family !== spec.family) throw new Error(`exclusion ${e.cidr} is not IPv${spec.family}`);
    out.push(['-A', spec.chain, ...exclusionArgs(e)].join(' '));
  }
  for (const r of spec.rules) {
    if (r.family !== spec.family) throw new Error(`DNAT rule for ${r.service} is not IPv${spec.family}`);
    out.push(['-A', spec.chain, ...dnatArgs(r)].join(' '));
  }
  return out;
}

/**
 * Lines that replace the chain's content inside a nat batch: declare it (creates it when absent; with --noflush an
 * existing chain is kept), flush it, append the rules. In one iptables-restore run this is a single transaction.
 */
export function chainBatchLines(spec: ChainSpec): string[] {
  return [`:${spec.chain} - [0:0]`, `-F ${spec.chain}`, ...chainRuleLines(spec)];
}

function header(spec: ChainSpec): string {
  return `# ghostwire ${spec.chain} (IPv${spec.family}): ${spec.exclusions.length} exclusions, ${spec.rules.length} DNAT rules`;
}

/** The whole payload for `iptables-restore --noflush` that (re)programs the chain. Never touches the hooks. */
export function chainRestorePayload(spec: ChainSpec): string {
  return [header(spec), '*nat', ...chainBatchLines(spec), 'COMMIT', ''].join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Reading iptables-save output.

/** Split one iptables-save line into arguments, honouring double quotes and backslash escapes. */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inToken = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quoted) {
      if (c === '\\' && i + 1 < line.length) {
        cur += line[++i];
      } else if (c === '"') {
        quoted = false;
      } else {
        cur += c;
      }
      continue;
    }
    if (c === ' ' || c === '\t') {
      if (inToken) out.push(cur);
      cur = '';
      inToken = false;
      continue;
    }
    inToken = true;
    if (c === '"') quoted = true;
    else cur += c;
  }
  if (inToken) out.push(cur);
  return out;
}

export interface SavedRule {
  chain: string;
  /** Arguments after "-A <chain>", unquoted. */
  args: string[];
  /** The text after "-A <chain> " exactly as saved (valid restore syntax, used for "-D <chain> <text>"). */
  spec: string;
}

export interface SavedTable {
  /** Chain name -> policy ("-" for user chains). */
  chains: Map<string, string>;
  rules: SavedRule[];
}

/** Parse one table (default nat) from iptables-save output; undefined when the table is absent. */
export function parseSave(text: string, table = 'nat'): SavedTable | undefined {
  let inTable = false;
  let found = false;
  const chains = new Map<string, string>();
  const rules: SavedRule[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      inTable = line.slice(1) === table;
      if (inTable) found = true;
      continue;
    }
    if (!inTable) continue;
    if (line === 'COMMIT') {
      inTable = false;
      continue;
    }
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(' ');
      if (name) chains.set(name, policy ?? '-');
      continue;
    }
    if (line.startsWith('-A ')) {
      const rest = line.slice(3);
      const sp = rest.indexOf(' ');
      const chain = sp === -1 ? rest : rest.slice(0, sp);
      const spec = sp === -1 ? '' : rest.slice(sp + 1);
      rules.push({ chain, args: tokenize(spec), spec });
    }
  }
  return found ? { chains, rules } : undefined;
}

export type ChainState = 'ok' | 'missing' | 'drifted';

/** Compare the kernel's chain with what the spec would program, argument by argument. */
export function chainState(saved: SavedTable | undefined, spec: ChainSpec): ChainState {
  if (!saved || !saved.chains.has(spec.chain)) return 'missing';
  const have = saved.rules.filter((r) => r.chain === spec.chain).map((r) => r.args);
  const want = [...spec.exclusions.map(exclusionArgs), ...spec.rules.map(dnatArgs)].map((args) => tokenize(args.join(' ')));
  if (have.length !== want.length) return 'drifted';
  for (let i = 0; i < want.length; i++) {
    if ((have[i] as string[]).join('\u0000') !== (want[i] as string[]).join('\u0000')) return 'drifted';
  }
  return 'ok';
}

/** Rules in the hook chains that jump (or go) to `chain`. */
export function findJumps(saved: SavedTable | undefined, chain: string): Array<SavedRule & { hook: JumpHook; index: number }> {
  if (!saved) return [];
  const out: Array<SavedRule & { hook: JumpHook; index: number }> = [];
  for (const hook of JUMP_HOOKS) {
    const inHook = saved.rules.filter((r) => r.chain === hook);
    inHook.forEach((r, index) => {
      const t = r.args.findIndex((a, i) => (a === '-j' || a === '-g') && r.args[i + 1] === chain);
      if (t !== -1) out.push({ ...r, hook, index });
    });
  }
  return out;
}

export interface ReconcileInput {
  saved: SavedTable | undefined;
  spec: ChainSpec;
  hook: JumpHook;
  /** True in the preview role, false otherwise; undefined (role not known yet) leaves the jumps alone. */
  wantJump: boolean | undefined;
}

export interface ReconcilePlan {
  /** iptables-restore --noflush payload, or null when the kernel already matches. */
  payload: string | null;
  chain: ChainState;
  jumpsBefore: number;
  /** Whether the jump is present (exactly one, first in the hook) after the payload is applied. */
  jumpAfter: boolean | undefined;
  deletes: number;
  insert: boolean;
}

/**
 * The watcher's one batch: rebuild the chain when it is missing or drifted, delete every jump to it that is not the
 * single wanted one (duplicates, a stale hook, a wrong position), and insert the jump at position 1 of the hook so
 * ghostwire's DNAT happens before any redirect another sidecar appended (the first nat match wins). Deleting by rule
 * spec, not number, makes the batch fail as a whole rather than hit the wrong rule if the hook changed meanwhile.
 */
export function reconcilePlan(input: ReconcileInput): ReconcilePlan {
  const { saved, spec, hook, wantJump } = input;
  const state = chainState(saved, spec);
  const jumps = findJumps(saved, spec.chain);
  const hookRules = saved ? saved.rules.filter((r) => r.chain === hook) : [];
  const first = hookRules[0];
  const alreadyRight =
    wantJump && jumps.length === 1 && first !== undefined && jumps[0]?.hook === hook && jumps[0].index === 0 &&
    first.args.length === 2 && first.args[0] === '-j' && first.args[1] === spec.chain;
  const jumpOk = wantJump === undefined ? true : wantJump ? alreadyRight : jumps.length === 0;
  const lines: string[] = [];
  if (state !== 'ok') lines.push(...chainBatchLines(spec));
  let deletes = 0;
  let insert = false;
  if (!jumpOk) {
    for (const j of jumps) {
      lines.push(`-D ${j.hook} ${j.spec}`);
      deletes++;
    }
    if (wantJump) {
      lines.push(`-I ${hook} 1 -j ${spec.chain}`);
      insert = true;
    }
  }
  const payload = lines.length === 0 ? null : ['*nat', ...lines, 'COMMIT', ''].join('\n');
  const jumpAfter = wantJump === undefined ? (jumps.length > 0 ? true : false) : wantJump;
  return { payload, chain: state, jumpsBefore: jumps.length, jumpAfter, deletes, insert };
}
