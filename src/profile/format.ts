/** Plain-text tables and number formats for the bench and profile reports. */

export type Align = 'l' | 'r';

/** Renders rows as aligned columns; the first row is the header, underlined. */
export function table(rows: readonly (readonly string[])[], align: readonly Align[] = [], indent = '  '): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, k) => (widths[k] = Math.max(widths[k] ?? 0, c.length)));
  const line = (r: readonly string[]): string =>
    indent +
    r
      .map((c, k) => ((align[k] ?? (k === 0 ? 'l' : 'r')) === 'l' ? c.padEnd(widths[k]!) : c.padStart(widths[k]!)))
      .join('  ')
      .trimEnd();
  const out = rows.map(line);
  if (rows.length > 1) out.splice(1, 0, indent + widths.map((w) => '-'.repeat(w)).join('  '));
  return out.join('\n');
}

/** 1234567 -> "1,234,567"; NaN -> "-". */
export function int(v: number): string {
  return Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-';
}

/** Milliseconds with a unit that keeps 3 significant digits: "412 us", "1.35 ms", "162 ms". */
export function ms(v: number): string {
  if (!Number.isFinite(v)) return '-';
  const a = Math.abs(v);
  if (a < 1) {
    const us = v * 1000;
    return `${Math.abs(us) >= 99.95 ? us.toFixed(0) : Math.abs(us) >= 9.995 ? us.toFixed(1) : us.toFixed(2)} us`;
  }
  if (a < 10) return `${v.toFixed(2)} ms`;
  if (a < 100) return `${v.toFixed(1)} ms`;
  return `${v.toFixed(0)} ms`;
}

export function ratio(v: number): string {
  return Number.isFinite(v) ? `${v.toFixed(2)}x` : '-';
}

export function pct(v: number, digits = 1): string {
  return Number.isFinite(v) ? `${v.toFixed(digits)}%` : '-';
}

export function bytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(n % 1024 === 0 ? 0 : 1)} KiB`;
  return `${n} B`;
}
