// ghostwire inject: the webhook's pipeline on files.
import { stringify } from 'yaml';
import { VERSION } from '../version.js';
import { TUNNEL_CLIENT_COMMAND_ANNOTATION } from '../config/index.js';
import { type DocumentResult, flatten, injectDocuments } from '../offline/inject-documents.js';
import { ManifestError, parseManifests, renderYaml } from '../offline/manifests.js';
import { UsageError, oneOf, parseFlags, runCommand } from './flags.js';
import { loadDefaultsFile, readInput, tunnelKeyFromFlag } from './inputs.js';

const USAGE = `Usage: ghostwire inject [-f FILE|-] [--defaults FILE] [--namespace NS] [-o yaml|json] [--patch] [--tunnel-key-file F]

Reads multi-document YAML or JSON (or a v1 List) and writes every document back, annotated workloads injected
(others unchanged, order kept). --patch prints each object's JSON patch instead. Exit code 1 when an object has
invalid ghostwire.dev annotations (same messages as the webhook).`;

const TUNNEL_COMMAND_KEY = TUNNEL_CLIENT_COMMAND_ANNOTATION.split('/')[1] as string;

/** Prints every warning and denial; true when some object was denied. */
function report(flat: readonly DocumentResult[]): boolean {
  let failed = false;
  for (const r of flat) {
    for (const w of r.outcome?.warnings ?? []) process.stderr.write(`${r.label}: warning: ${w}\n`);
    if (r.outcome && !r.outcome.allowed) {
      failed = true;
      process.stderr.write(`${r.label}: ${r.outcome.denial?.message ?? 'denied'}\n`);
    }
  }
  return failed;
}

export async function run(argv: string[]): Promise<number> {
  return runCommand('ghostwire inject', async () => {
    const values = parseFlags(argv, {
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
    const output = oneOf('output', values.output, ['yaml', 'json']);
    const defaults = loadDefaultsFile(values.defaults);
    let docs: unknown[];
    try {
      docs = parseManifests(readInput('-f', values.file), values.file);
    } catch (err) {
      if (err instanceof ManifestError) throw new UsageError(err.message);
      throw err;
    }
    const warned: string[] = [];
    const tunnelKey = tunnelKeyFromFlag(values['tunnel-key-file'], (m) => warned.push(m)).key;
    const results = injectDocuments(docs, { defaults, version: VERSION, tunnelKey }, values.namespace);
    const flat = flatten(results);
    // The development-key warning matters only when a tunnel command was actually signed with it.
    const signedTunnel = flat.some((r) => r.outcome?.patch.some((op) => JSON.stringify(op).includes(TUNNEL_COMMAND_KEY)));
    if (signedTunnel) for (const w of warned) process.stderr.write(`ghostwire: warning: ${w}\n`);
    if (report(flat)) return 1;

    if (values.patch) {
      const patches = flat.filter((r) => r.outcome).map((r) => ({ object: r.label, result: r.outcome!.result, reason: r.outcome!.reason, patch: r.outcome!.patch }));
      process.stdout.write(output === 'json' ? `${JSON.stringify(patches, null, 2)}\n` : stringify(patches));
      return 0;
    }
    const outputs = results.map((r) => r.output);
    if (output === 'json') {
      process.stdout.write(`${JSON.stringify(outputs.length === 1 ? outputs[0] : { apiVersion: 'v1', kind: 'List', items: outputs }, null, 2)}\n`);
    } else {
      process.stdout.write(renderYaml(outputs));
    }
    return 0;
  });
}
