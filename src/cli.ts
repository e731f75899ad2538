#!/usr/bin/env node
// ghostwire: one binary, five roles. Each subcommand lives in its own module and is loaded on demand, so the
// in-pod programs never pay for the webhook's or the controller's imports.
import { VERSION } from './version.js';

type Command = { summary: string; load: () => Promise<{ run: (argv: string[]) => Promise<number> }> };

const COMMANDS: Record<string, Command> = {
  serve: { summary: 'run the mutating admission webhook (HTTPS)', load: () => import('./commands/serve.js') },
  inject: { summary: 'render injected manifests offline (same code as the webhook)', load: () => import('./commands/inject.js') },
  certs: { summary: 'generate a CA and a serving certificate for the webhook', load: () => import('./commands/certs.js') },
  init: { summary: 'in-pod: discover Services and program the DNAT chain (init container)', load: () => import('./commands/init.js') },
  watch: { summary: 'in-pod: follow the pod role label and flip the jump (sidecar)', load: () => import('./commands/watch.js') },
  shadow: { summary: 'shadow tunnels: `shadow render` manifests offline, `shadow run` the controller', load: () => import('./commands/shadow.js') },
  status: { summary: 'what is injected, with which config, which pods route where (also `kubectl ghostwire status`)', load: () => import('./commands/status.js') },
  policy: { summary: 'render admission policies that inject without the webhook (Kubernetes >= 1.36)', load: () => import('./commands/policy.js') },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `ghostwire ${VERSION}\n\nUsage: ghostwire <command> [flags]\n\nCommands:\n${lines.join('\n')}\n\nRun "ghostwire <command> --help" for a command's flags.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`ghostwire: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const mod = await command.load();
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Last resort: one line, no stack dump of internals to an operator's terminal unless asked for.
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`ghostwire: ${message}\n`);
    if (process.env.GW_DEBUG) console.error(err);
    process.exitCode = 1;
  },
);
