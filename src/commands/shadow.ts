// ghostwire shadow render | run
//   render: print a workload's shadow manifests offline (the same code the controller applies)
//   run:    the lifecycle controller (watches tunnel workloads, applies/removes shadows)
import { parseArgs } from 'node:util';
import { parseTunnelPorts } from '../config/validate.js';
import { tunnelAnnotations } from '../shadow/annotations.js';
import { ShadowRenderError, planShadow } from '../shadow/manifests.js';
import { loadTunnelKey } from '../shadow/tunnel-key-file.js';
import { loadDefaultsFile, renderYaml } from './common.js';

const USAGE = `Usage:
  ghostwire shadow render --name W --namespace NS [--defaults FILE] [--ports LIST] [--full-mesh]
                          [--tunnel-key-file F] [-o yaml|json] [--annotations]
  ghostwire shadow run [--kubeconfig FILE] [--defaults FILE] --tunnel-key-file F [--namespace NS]
                       [--concurrency N] [--log-level L] [--allow-dev-key]

render prints the shadow objects of workload W (multi-document YAML, or a v1 List with -o json), or with
--annotations the pod-template annotations the injector writes. --ports lists the workload's container ports
as "port[:name[:protocol]]" (e.g. "8080:http,5353:dns:UDP"). The WireGuard keys Secret of full-mesh mode is
never rendered: the controller creates it in the cluster.

run reconciles Deployments, StatefulSets and DaemonSets whose tunnel is on (ghostwire.dev/tunnel or
network.enableTunnel). See docs/shadow-tunnel.md.
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'render') return render(rest);
  if (sub === 'run') {
    const { runController } = await import('../k8s/shadow-runner.js');
    return runController(rest);
  }
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  process.stderr.write(`ghostwire shadow: unknown subcommand "${sub}"\n\n${USAGE}`);
  return 2;
}

/** Read and validate a defaults document; every problem is printed, any problem is fatal. */

function render(argv: string[]): number {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        name: { type: 'string' },
        namespace: { type: 'string' },
        defaults: { type: 'string' },
        ports: { type: 'string' },
        'full-mesh': { type: 'boolean' },
        'tunnel-key-file': { type: 'string' },
        output: { type: 'string', short: 'o', default: 'yaml' },
        annotations: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`ghostwire shadow render: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!values.name || !values.namespace) {
    process.stderr.write(`ghostwire shadow render: --name and --namespace are required\n\n${USAGE}`);
    return 2;
  }
  if (values.output !== 'yaml' && values.output !== 'json') {
    process.stderr.write('ghostwire shadow render: -o must be yaml or json\n');
    return 2;
  }
  const defaults = loadDefaultsFile(values.defaults);
  const ports = parseTunnelPorts(values.ports ?? '');
  if (!ports.ok) {
    process.stderr.write(`ghostwire shadow render: --ports: ${ports.allowed}\n`);
    return 2;
  }
  const key = loadTunnelKey(values['tunnel-key-file'], {
    env: process.env,
    warn: (m) => process.stderr.write(`ghostwire shadow render: warning: ${m}\n`),
  });
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
    if (a.errors.length > 0) {
      process.stderr.write(`ghostwire shadow render: cannot render the tunnel: ${a.errors.join('; ')}\n`);
      return 1;
    }
    process.stdout.write(values.output === 'json' ? `${JSON.stringify(a, null, 2)}\n` : renderYaml([a]));
    return 0;
  }
  try {
    const plan = planShadow(input);
    if (values.output === 'json') {
      process.stdout.write(`${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: plan.objects }, null, 2)}\n`);
    } else {
      process.stdout.write(renderYaml(plan.objects));
    }
    if (plan.mode === 'full-mesh') {
      process.stderr.write(`ghostwire shadow render: note: Secret ${plan.identity.namespace}/${plan.identity.keysSecretName} (WireGuard keys) is created by the controller, not rendered\n`);
    }
    return 0;
  } catch (err) {
    if (!(err instanceof ShadowRenderError)) throw err;
    process.stderr.write(`ghostwire shadow render: cannot render the shadow: ${err.message}\n`);
    return 1;
  }
}

