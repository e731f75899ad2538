// ghostwire policy: the admission policies that make the API server inject ghostwire without the webhook.
import { VERSION } from '../version.js';
import { formatFieldErrors } from '../config/index.js';
import { isDns1123Label, isDns1123Subdomain } from '../config/validate.js';
import { limitLines } from '../policy/limits.js';
import { renderPolicy } from '../policy/objects.js';
import { policyYaml } from '../policy/output.js';
import { policyDefaultsProblems } from '../policy/params.js';
import { UsageError, oneOf, parseFlags, runCommand } from './flags.js';
import { loadDefaultsFile } from './inputs.js';

const NAME = 'ghostwire policy';
const USAGE = `Usage: ghostwire policy [--defaults FILE] [-o yaml|json] [--namespace NS] [--name PREFIX]

Prints the admission policies that make the API server itself inject ghostwire into enabled workloads
(admissionregistration.k8s.io/v1, Kubernetes >= 1.36): a parameter ConfigMap with the defaults (from --defaults, the
webhook's defaults document), a MutatingAdmissionPolicy, ValidatingAdmissionPolicies that refuse and warn as the
webhook does, and their bindings. --namespace is where the ConfigMap lives (never injected, default "ghostwire"),
--name prefixes the cluster-scoped names (default "ghostwire"). Namespaces need the label
ghostwire.dev/injection=enabled, as with the chart.`;

export async function run(argv: string[]): Promise<number> {
  return runCommand(NAME, async () => {
    const values = parseFlags(argv, {
      defaults: { type: 'string' },
      output: { type: 'string', short: 'o', default: 'yaml' },
      namespace: { type: 'string', short: 'n', default: 'ghostwire' },
      name: { type: 'string', default: 'ghostwire' },
    }, USAGE);
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const output = oneOf('output', values.output, ['yaml', 'json']);
    if (!isDns1123Label(values.namespace)) throw new UsageError(`--namespace: ${JSON.stringify(values.namespace)} is not allowed; allowed: a namespace name (DNS-1123 label)`);
    // The longest generated name adds 15 characters ("-defaults-check", "-policy-defaults").
    if (!isDns1123Subdomain(values.name) || values.name.length > 48) {
      throw new UsageError(`--name: ${JSON.stringify(values.name)} is not allowed; allowed: a DNS-1123 subdomain of at most 48 characters`);
    }
    const defaults = loadDefaultsFile(values.defaults);
    const checked = policyDefaultsProblems(defaults, values.defaults ?? 'built-in defaults');
    if (checked.errors.length > 0) throw new UsageError(`--defaults ${values.defaults}: ${formatFieldErrors(checked.errors)}`);
    for (const k of checked.ignored) process.stderr.write(`${NAME}: note: ${k} is a shadow-tunnel setting; policy mode has no tunnels and ignores it\n`);
    const objects = renderPolicy({ name: values.name, namespace: values.namespace, defaults, version: VERSION, optInLabel: { key: 'ghostwire.dev/injection', value: 'enabled' } });
    if (output === 'json') {
      for (const l of limitLines()) process.stderr.write(`${NAME}: note: ${l.slice(2)}\n`);
      process.stdout.write(`${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n`);
    } else {
      process.stdout.write(policyYaml(objects, VERSION));
    }
    return 0;
  });
}
