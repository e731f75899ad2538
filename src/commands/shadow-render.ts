// ghostwire shadow render: a workload's shadow objects (or the pod-template annotations) offline.
import { parseTunnelPorts } from '../config/validate.js';
import { renderYaml } from '../offline/manifests.js';
import { tunnelAnnotations } from '../shadow/annotations.js';
import { ShadowRenderError, planShadow } from '../shadow/manifests.js';
import { UsageError, oneOf, parseFlags, runCommand } from './flags.js';
import { loadDefaultsFile, tunnelKeyFromFlag } from './inputs.js';
import { SHADOW_USAGE } from './shadow.js';

const NAME = 'ghostwire shadow render';

export async function run(argv: string[]): Promise<number> {
  return runCommand(NAME, async () => {
    const values = parseFlags(argv, {
      name: { type: 'string' },
      namespace: { type: 'string' },
      defaults: { type: 'string' },
      ports: { type: 'string' },
      'full-mesh': { type: 'boolean' },
      'tunnel-key-file': { type: 'string' },
      output: { type: 'string', short: 'o', default: 'yaml' },
      annotations: { type: 'boolean' },
    }, SHADOW_USAGE);
    if (values.help) {
      process.stdout.write(SHADOW_USAGE);
      return 0;
    }
    if (!values.name || !values.namespace) throw new UsageError(`--name and --namespace are required\n\n${SHADOW_USAGE}`);
    const output = oneOf('output', values.output, ['yaml', 'json']);
    const defaults = loadDefaultsFile(values.defaults);
    const ports = parseTunnelPorts(values.ports ?? '');
    if (!ports.ok) throw new UsageError(`--ports: ${ports.allowed}`);
    const key = tunnelKeyFromFlag(values['tunnel-key-file'], (m) => process.stderr.write(`${NAME}: warning: ${m}\n`));
    const input = {
      workloadName: values.name,
      namespace: values.namespace,
      // Rendering is asked for explicitly: the tunnel is on whatever the defaults say.
      config: { ...defaults.config, tunnel: true, fullMesh: values['full-mesh'] ?? defaults.config.fullMesh },
      network: defaults.network,
      containerPorts: ports.value,
      tunnelKey: key.key,
    };
    if (values.annotations) {
      const a = tunnelAnnotations(input);
      if (a.errors.length > 0) throw new Error(`cannot render the tunnel: ${a.errors.join('; ')}`);
      process.stdout.write(output === 'json' ? `${JSON.stringify(a, null, 2)}\n` : renderYaml([a]));
      return 0;
    }
    let plan;
    try {
      plan = planShadow(input);
    } catch (err) {
      if (err instanceof ShadowRenderError) throw new Error(`cannot render the shadow: ${err.message}`);
      throw err;
    }
    process.stdout.write(output === 'json' ? `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: plan.objects }, null, 2)}\n` : renderYaml(plan.objects));
    if (plan.mode === 'full-mesh') {
      process.stderr.write(`${NAME}: note: Secret ${plan.identity.namespace}/${plan.identity.keysSecretName} (WireGuard keys) is created by the controller, not rendered\n`);
    }
    return 0;
  });
}
