// Tiny flag parser for the in-pod programs (no dependency, no surprises): --name value, --name=value, --bool.
export interface FlagSpec {
  /** Flags that take a value. */
  values: readonly string[];
  /** Boolean flags. */
  bools: readonly string[];
}

export function parseFlags(argv: readonly string[], spec: FlagSpec): { values: Map<string, string>; bools: Set<string> } {
  const values = new Map<string, string>();
  const bools = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (spec.bools.includes(name)) {
      if (eq !== -1) throw new Error(`--${name} takes no value`);
      bools.add(name);
      continue;
    }
    if (spec.values.includes(name)) {
      const value = eq !== -1 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
      values.set(name, value);
      continue;
    }
    throw new Error(`unknown flag --${name}`);
  }
  return { values, bools };
}
