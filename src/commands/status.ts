// ghostwire status (also `kubectl ghostwire status`): what is injected, with which config, which pods route where,
// and what needs attention, from the user's kubeconfig. Exit codes: 0 all is well, 1 the status is incomplete (a
// read failed), 2 usage, 3 something needs attention.
import { stringify } from 'yaml';
import { createMutationMemo } from '../admission/memo.js';
import { StatusClient } from '../k8s/status-client.js';
import { DEVELOPMENT_TUNNEL_KEY } from '../shadow/tunnel-key.js';
import type { DriftContext } from '../status/drift.js';
import type { ProbeResult, StatusReport } from '../status/model.js';
import { probeTarget } from '../status/pods.js';
import { type ReportInput, buildReport } from '../status/report.js';
import { renderTable } from '../status/table.js';
import { webhookStatus } from '../status/webhook-health.js';
import { type KindInfo, parseObjectArg } from '../status/workloads.js';
import { mapBounded } from '../util/pool.js';
import { VERSION } from '../version.js';
import { UsageError, integer, objectName, oneOf, parseCommandLine, runCommand, seconds } from './flags.js';
import { loadDefaultsFile } from './inputs.js';
import { progressOn } from './progress.js';
import { type GatherOptions, Reads, gatherScope, gatherWebhook, probe } from './status-gather.js';
import { TUNNEL_KEY_FILE_ENV, loadTunnelKey } from './tunnel-key-file.js';

const USAGE = `Usage: ghostwire status [-n NS | -A] [KIND/NAME] [-o table|json|yaml]
                        [--kubeconfig F] [--context NAME]
                        [--webhook-config NAME] [--webhook-namespace NS] [--webhook-deployment NAME]
                        [--defaults-configmap NS/NAME | --defaults FILE] [--tunnel-key-file F]
                        [--concurrency N] [--timeout SECONDS] [--sync-stale SECONDS] [--cert-warn-days N]

Also installed as a kubectl plugin: kubectl ghostwire status ...

Per workload (Deployments, StatefulSets, DaemonSets, Rollouts, CronJobs, standalone Jobs, ReplicaSets and Pods that
ask for ghostwire or carry it): enabled, injected, sidecar mode, the config hash it runs against the hash the current
defaults and its annotations give, and why it is not injected. Per pod: role label, jump state, DNAT rules, last
sync and errors, read from its watcher's /metrics through the API server's pod proxy. The webhook: replicas ready,
certificate expiry, defaults valid or rejected. The webhook is found from the cluster; the --webhook-* and
--defaults* flags override what was found.

Exit codes: 0 all is well; 1 the status is incomplete (a read failed: named in the output); 2 usage;
3 something needs attention (listed under NEEDS ATTENTION).`;

const FLAGS = {
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A', default: false },
  output: { type: 'string', short: 'o', default: 'table' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  'webhook-config': { type: 'string' },
  'webhook-namespace': { type: 'string' },
  'webhook-deployment': { type: 'string' },
  'defaults-configmap': { type: 'string' },
  defaults: { type: 'string' },
  'tunnel-key-file': { type: 'string' },
  concurrency: { type: 'string', default: '16' },
  timeout: { type: 'string', default: '5' },
  'sync-stale': { type: 'string', default: '300' },
  'cert-warn-days': { type: 'string', default: '14' },
} as const;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function dnsName(flag: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.length <= 253 && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(value)) return value;
  throw new UsageError(`--${flag}: ${JSON.stringify(value.slice(0, 80))} is not allowed; allowed: a Kubernetes object name`);
}

function namespaceFlag(value: string): string {
  if (DNS_LABEL.test(value)) return value;
  throw new UsageError(`--namespace: ${JSON.stringify(value.slice(0, 80))} is not allowed; allowed: a namespace name (DNS label)`);
}

/** The tunnel key when one is given; else a stand-in, and tunnel workloads' hashes are reported as unknown. */
function tunnelKey(file: string | undefined): { key: string; known: boolean } {
  if (file === undefined && !process.env[TUNNEL_KEY_FILE_ENV]) return { key: DEVELOPMENT_TUNNEL_KEY, known: false };
  try {
    return { key: loadTunnelKey(file, { env: process.env, requireFile: true }).key, known: true };
  } catch (err) {
    throw new UsageError(`--tunnel-key-file: ${(err as Error).message}`);
  }
}

type Values = ReturnType<typeof parseCommandLine<typeof FLAGS>>['values'];

interface Parsed {
  values: Values;
  object: { kind: KindInfo; name: string } | null;
  format: 'table' | 'json' | 'yaml';
  gather: Omit<GatherOptions, 'namespaces'>;
  tunnel: { key: string; known: boolean };
  timeoutMs: number;
  syncStaleSeconds: number;
  certWarnDays: number;
}

function parse(argv: string[]): Parsed | 'help' {
  const { values, positionals } = parseCommandLine(argv, FLAGS, USAGE, 1);
  if (values.help) return 'help';
  if (values['all-namespaces'] && values.namespace !== undefined) throw new UsageError('-n/--namespace and -A/--all-namespaces are exclusive');
  if (values.defaults && values['defaults-configmap']) throw new UsageError('--defaults and --defaults-configmap are exclusive');
  let object: Parsed['object'] = null;
  if (positionals[0] !== undefined) {
    if (values['all-namespaces']) throw new UsageError('KIND/NAME names one object: use -n NS, not -A');
    const o = parseObjectArg(positionals[0]);
    if ('error' in o) throw new UsageError(o.error);
    object = o;
  }
  const concurrency = integer('concurrency', values.concurrency, 1, 128);
  return {
    values,
    object,
    format: oneOf('output', values.output, ['table', 'json', 'yaml'] as const),
    gather: {
      webhookConfig: dnsName('webhook-config', values['webhook-config']),
      webhookNamespace: values['webhook-namespace'] === undefined ? undefined : namespaceFlag(values['webhook-namespace']),
      webhookDeployment: dnsName('webhook-deployment', values['webhook-deployment']),
      defaultsConfigMap: values['defaults-configmap'] === undefined ? undefined : objectName('defaults-configmap', values['defaults-configmap']),
      defaultsFile: values.defaults === undefined ? undefined : { defaults: loadDefaultsFile(values.defaults), path: values.defaults },
      concurrency,
    },
    tunnel: tunnelKey(values['tunnel-key-file']),
    timeoutMs: seconds('timeout', values.timeout, 0.1, 120) * 1000,
    syncStaleSeconds: seconds('sync-stale', values['sync-stale'], 1, 86_400),
    certWarnDays: integer('cert-warn-days', values['cert-warn-days'], 0, 3650),
  };
}

function render(report: StatusReport, format: Parsed['format']): string {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  if (format === 'yaml') return stringify(report, { lineWidth: 0 });
  return renderTable(report);
}

export async function run(argv: string[]): Promise<number> {
  return runCommand('ghostwire status', async () => {
    const p = parse(argv);
    if (p === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const client = StatusClient.create({ kubeconfig: p.values.kubeconfig, context: p.values.context, concurrency: p.gather.concurrency, timeoutMs: p.timeoutMs });
    try {
      const report = await status(client, p);
      process.stdout.write(render(report, p.format));
      return report.exitCode;
    } finally {
      client.close();
    }
  });
}

async function status(client: StatusClient, p: Parsed): Promise<StatusReport> {
  const progress = progressOn(process.stderr, 'ghostwire status');
  const namespaces = p.values['all-namespaces'] ? ('all' as const) : [p.values.namespace === undefined ? client.defaultNamespace() : namespaceFlag(p.values.namespace)];
  const o: GatherOptions = { ...p.gather, namespaces };
  const reads = new Reads();
  try {
    progress.update('reading the webhook');
    const hook = await gatherWebhook(client, reads, o);
    const scope = await gatherScope(client, reads, o, (what) => progress.update(`listing ${what}`));
    const drift: DriftContext | undefined = hook.defaults.defaults && {
      defaults: hook.defaults.defaults,
      version: VERSION,
      tunnelKey: p.tunnel.key,
      tunnelKeyKnown: p.tunnel.known,
      ownNamespace: hook.ownNamespace,
      memo: createMutationMemo(),
    };
    const now = Date.now();
    const input: ReportInput = {
      scope: { namespaces, object: p.object },
      objects: scope.objects,
      namespaceLabels: scope.namespaceLabels,
      admission: hook.choice.scope,
      webhook: webhookStatus({ ...hook, now, certWarnDays: p.certWarnDays }),
      drift,
      driftUnknown: `the defaults in force are unknown (${hook.defaults.source}: ${hook.defaults.state}); config hashes are not compared`,
      probes: new Map(),
      incomplete: reads.failed,
      now,
      options: { syncStaleSeconds: p.syncStaleSeconds },
    };
    // The pods worth reading are those of the workloads the report shows: a first pass finds them.
    const byName = new Map(scope.objects.filter((l) => l.kind.kind.kind === 'Pod').map((l) => [`${l.object.metadata?.namespace}/${l.object.metadata?.name}`, l.object]));
    const targets = buildReport(input).workloads.flatMap((w) => w.pods.map((pod) => probeTarget(byName.get(`${w.namespace}/${pod.name}`) ?? {}))).filter((t) => t !== undefined);
    const probes = new Map<string, ProbeResult>();
    await mapBounded(targets, p.gather.concurrency, async (t) => probes.set(`${t.namespace}/${t.pod}`, await probe(client, t.namespace, t.pod, t.port)), (done) =>
      progress.update(`reading watcher metrics through the pod proxy ${done}/${targets.length}`),
    );
    return buildReport({ ...input, probes, incomplete: reads.failed, now: Date.now() });
  } finally {
    progress.done();
  }
}
