// Placeholder until this role lands; the CLI dispatch table already points here.
export async function run(_argv: string[]): Promise<number> {
  process.stderr.write('ghostwire: this command is not implemented yet\n');
  return 1;
}
