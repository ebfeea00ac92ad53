/** A tiny `--name value` / `--flag` parser for the project's command-line tools. */
export function parseArgs(argv: readonly string[], known: Record<string, 'string' | 'number' | 'boolean'>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument '${arg}'; options are: ${Object.keys(known).map((k) => `--${k}`).join(' ')}`);
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    const kind = known[name];
    if (!kind) throw new Error(`unknown option --${name}; options are: ${Object.keys(known).map((k) => `--${k}`).join(' ')}`);
    if (kind === 'boolean') {
      out[name] = inline === undefined ? true : inline !== 'false';
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    if (kind === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got '${value}'`);
      out[name] = n;
    } else out[name] = value;
  }
  return out;
}
