// ghostwire inject: the webhook's pipeline on files.
import { readFileSync } from 'node:fs';
import { parseAllDocuments, stringify } from 'yaml';
import { VERSION } from '../version.js';
import { flatten, injectDocuments } from '../inject/offline.js';
import { TUNNEL_CLIENT_COMMAND_ANNOTATION } from '../config/index.js';
import { UsageError, guard, loadDefaultsFile, parseFlags, renderYaml, tunnelKeyFromFlag } from './common.js';

export { renderYaml };

const USAGE = `Usage: ghostwire inject [-f FILE|-] [--defaults FILE] [--namespace NS] [-o yaml|json] [--patch] [--tunnel-key-file F]

Reads multi-document YAML or JSON (or a v1 List) and writes every document back, annotated workloads injected
(others unchanged, order kept). --patch prints each object's JSON patch instead. Exit code 1 when an object has
invalid ghostwire.dev annotations (same messages as the webhook).`;

const TUNNEL_COMMAND_KEY = TUNNEL_CLIENT_COMMAND_ANNOTATION.split('/')[1] as string;

function readInput(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UsageError(`-f: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function parseManifests(text: string, source: string): unknown[] {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      const doc = JSON.parse(text) as unknown;
      return Array.isArray(doc) ? doc : [doc];
    } catch {
      // Not JSON after all: YAML is a superset, let the YAML parser report.
    }
  }
  const docs = parseAllDocuments(text);
  const out: unknown[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new UsageError(`${source}: invalid YAML: ${d.errors[0]?.message.split('\n')[0]}`);
    const value = d.toJS() as unknown;
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

export async function run(argv: string[]): Promise<number> {
  return guard(async () => {
    const { values } = parseFlags(argv, {
      file: { type: 'string', short: 'f', default: '-' },
      defaults: { type: 'string' },
      namespace: { type: 'string', short: 'n', default: 'default' },
      output: { type: 'string', short: 'o', default: 'yaml' },
      patch: { type: 'boolean', default: false },
      'tunnel-key-file': { type: 'string' },
    }, USAGE);
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (values.output !== 'yaml' && values.output !== 'json') throw new UsageError(`-o: ${JSON.stringify(values.output)} is not allowed; allowed: yaml, json`);
    const defaults = loadDefaultsFile(values.defaults);
    const docs = parseManifests(readInput(values.file as string), values.file as string);
    const warned: string[] = [];
    const tunnelKey = tunnelKeyFromFlag(values['tunnel-key-file'], (m) => warned.push(m));
    const results = injectDocuments(docs, { defaults, version: VERSION, tunnelKey }, values.namespace as string);
    const flat = flatten(results);
    // The development-key warning matters only when a tunnel command was actually signed with it.
    const signedTunnel = flat.some((r) => r.outcome?.patch.some((op) => JSON.stringify(op).includes(TUNNEL_COMMAND_KEY)));
    if (signedTunnel) for (const w of warned) process.stderr.write(`ghostwire: warning: ${w}\n`);

    let failed = false;
    for (const r of flat) {
      for (const w of r.outcome?.warnings ?? []) process.stderr.write(`${r.label}: warning: ${w}\n`);
      if (r.outcome && !r.outcome.allowed) {
        failed = true;
        process.stderr.write(`${r.label}: ${r.outcome.denial?.message ?? 'denied'}\n`);
      }
    }
    if (failed) return 1;

    if (values.patch) {
      const patches = flat.filter((r) => r.outcome).map((r) => ({ object: r.label, result: r.outcome!.result, reason: r.outcome!.reason, patch: r.outcome!.patch }));
      process.stdout.write(values.output === 'json' ? `${JSON.stringify(patches, null, 2)}\n` : stringify(patches));
      return 0;
    }
    const outputs = results.map((r) => r.output);
    if (values.output === 'json') {
      process.stdout.write(`${JSON.stringify(outputs.length === 1 ? outputs[0] : { apiVersion: 'v1', kind: 'List', items: outputs }, null, 2)}\n`);
    } else {
      process.stdout.write(renderYaml(outputs));
    }
    return 0;
  });
}
