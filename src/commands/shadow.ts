// ghostwire shadow render | run
//   render: print a workload's shadow manifests offline (the same code the controller applies)
//   run:    the lifecycle controller (watches tunnel workloads, applies/removes shadows)
import { EXIT_USAGE } from './flags.js';

export const SHADOW_USAGE = `Usage:
  ghostwire shadow render --name W --namespace NS [--defaults FILE] [--ports LIST] [--full-mesh]
                          [--tunnel-key-file F] [-o yaml|json] [--annotations]
  ghostwire shadow run [--kubeconfig FILE] [--defaults FILE | --defaults-configmap NS/NAME] --tunnel-key-file F
                       [--namespace NS[,NS...]] [--own-namespace NS] [--opt-in-label KEY=VALUE]
                       [--concurrency N] [--resync SECONDS] [--log-level L] [--allow-dev-key]

render prints the shadow objects of workload W (multi-document YAML, or a v1 List with -o json), or with
--annotations the pod-template annotations the injector writes. --ports lists the workload's container ports
as "port[:name[:protocol]]" (e.g. "8080:http,5353:dns:UDP"). The WireGuard keys Secret of full-mesh mode is
never rendered: the controller creates it in the cluster.

run reconciles Deployments, StatefulSets and DaemonSets whose tunnel is on (ghostwire.dev/tunnel or
network.enableTunnel), only in the --namespace list (default: every namespace), never in kube-system, kube-public,
kube-node-lease or --own-namespace (default: $POD_NAMESPACE), and with --opt-in-label only in namespaces carrying
that label (elsewhere the workload's tunnel status says why it gets no shadow). --kubeconfig defaults to $KUBECONFIG, ~/.kube/config, then the in-cluster service account.
--tunnel-key-file must be the key the webhook uses (else client commands carry the wrong prefix); --allow-dev-key
accepts the documented development key instead (never in a real cluster). --metrics-listen HOST:PORT (off by
default; the chart sets :8080) serves /metrics with ghostwire_workload_config_stale{namespace,kind,name} for every injected
Deployment, StatefulSet and DaemonSet it watches (see docs/operations.md). See docs/shadow-tunnel.md.
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'render') return (await import('./shadow-render.js')).run(rest);
  if (sub === 'run') return (await import('./shadow-run.js')).run(rest);
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(SHADOW_USAGE);
    return sub === undefined ? EXIT_USAGE : 0;
  }
  process.stderr.write(`ghostwire shadow: unknown subcommand "${sub}"\n\n${SHADOW_USAGE}`);
  return EXIT_USAGE;
}
