// One shutdown path for the long-running commands (serve, watch, shadow run).

/**
 * Resolves with the first SIGTERM or SIGINT. The handlers stay installed, so a second signal during the shutdown
 * (or one during start-up) cannot kill the process half way through an iptables call or a drain.
 */
export function shutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.on('SIGTERM', () => resolve('SIGTERM'));
    process.on('SIGINT', () => resolve('SIGINT'));
  });
}

/** Resolves after `ms`, without keeping the process alive. */
export const grace = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());
