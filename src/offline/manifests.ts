// Manifests on files: multi-document YAML or JSON in, multi-document YAML out. The one reader and the one printer
// every offline command, the goldens and the docs use.
import { parseAllDocuments, stringify } from 'yaml';

export class ManifestError extends Error {}

/** Documents of a YAML stream or a JSON document (an array is a list of documents); empty documents dropped. */
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
  const out: unknown[] = [];
  for (const d of parseAllDocuments(text)) {
    if (d.errors.length > 0) throw new ManifestError(`${source}: invalid YAML: ${d.errors[0]?.message.split('\n')[0]}`);
    const value = d.toJS() as unknown;
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

/** Multi-document YAML, the one format goldens, docs and every command print. */
export function renderYaml(objects: readonly unknown[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}
