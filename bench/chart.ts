/**
 * The run as one self-contained SVG: throughput per configuration (log scale, with the machine
 * bound and the targets marked), the sequential commit latency distributions and the election
 * latency distributions (as CDFs), the key-value store's operations per second and latency
 * distributions, and the limits and targets. Written next to the JSON file.
 */
import { bytes, int, ms } from '../src/profile/format.js';
import { kvBoundOn } from './report.js';
import type { BenchReport, KvFigure } from './types.js';

const W = 1000;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
const COLORS = ['#3465a4', '#c4551b', '#4e9a06', '#75507b', '#c49a00', '#06989a', '#a40000', '#555753'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function text(x: number, y: number, s: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`;
}

function line(x1: number, y1: number, x2: number, y2: number, attrs: string): string {
  return `<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" ${attrs}/>`;
}

/** A log10 scale from [lo, hi] (decades) onto [x0, x1]. */
function logScale(lo: number, hi: number, x0: number, x1: number): (v: number) => number {
  const a = Math.log10(lo);
  const b = Math.log10(hi);
  return (v) => x0 + ((Math.log10(Math.max(v, lo)) - a) / (b - a)) * (x1 - x0);
}

function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  // 1-2-5 per decade; only 1 and 5 over wide ranges, so the labels never run into each other.
  const steps = Math.log10(hi / lo) > 4 ? [1, 5] : [1, 2, 5];
  for (let d = lo; d <= hi * 1.0001; d *= 10) for (const m of steps) if (d * m <= hi * 1.0001) out.push(d * m);
  return out;
}

/** A compact time label for an axis tick (ms in): 20us, 1ms, 2.5ms, 100ms. */
function tickMs(v: number): string {
  if (v < 1) return `${Number((v * 1000).toPrecision(2))}us`;
  if (v < 1000) return `${Number(v.toPrecision(2))}ms`;
  return `${Number((v / 1000).toPrecision(2))}s`;
}

function decadeBounds(values: number[]): [number, number] {
  const ok = values.filter((v) => Number.isFinite(v) && v > 0);
  if (ok.length === 0) return [1, 10];
  const lo = 10 ** Math.floor(Math.log10(Math.min(...ok)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...ok) * 1.05));
  return [lo, hi === lo ? lo * 10 : hi];
}

function fmtRate(v: number): string {
  const short = (x: number): string => String(Number(x.toPrecision(2)));
  if (v >= 1e6) return `${short(v / 1e6)}M`;
  if (v >= 1e3) return `${short(v / 1e3)}k`;
  return v.toFixed(0);
}

interface Bar {
  readonly label: string;
  readonly value: number;
  readonly error: string | undefined;
  readonly bound: number | null;
  readonly target: number | null;
  readonly color: string;
  readonly opacity: number;
}

function raftBars(r: BenchReport): Bar[] {
  const targets: Record<number, number> = { 5: 200_000, 3: 300_000 };
  const out: Bar[] = r.throughput.map((f) => ({
    label: `${f.storage === 'lmdb' ? 'lmdb fsync' : 'memory'} · ${f.peers} peers · ${bytes(f.size)} · ${f.outstanding} out${f.call === 'propose' && f.outstanding > 1 ? ' · propose()' : ''}`,
    value: f.commitsPerSec,
    error: f.error,
    bound: f.bound?.value ?? null,
    target: f.storage === 'lmdb' && f.size === 64 && f.outstanding === 1024 && f.call === 'proposeBatch' ? (targets[f.peers] ?? null) : null,
    color: f.storage === 'lmdb' ? COLORS[0]! : COLORS[2]!,
    opacity: f.size === 64 ? 0.9 : 0.6,
  }));
  return out;
}

function kvName(f: KvFigure): string {
  return f.op === 'put' ? 'put' : `get ${f.consistency ?? ''}`.trimEnd();
}

function kvClients(f: KvFigure): string {
  return `${f.clients} client${f.clients === 1 ? '' : 's'}${f.outstanding > f.clients ? `, ${f.outstanding} in flight` : ''}`;
}

/** ops/s per operation and client count; the bound as a rate (1 outstanding: 1 / the latency floor). */
function kvBars(r: BenchReport): Bar[] {
  const color: Record<string, string> = { put: COLORS[3]!, 'get linearizable': COLORS[1]!, 'get lease': COLORS[5]! };
  return (r.kv ?? []).map((f) => {
    const b = f.bound;
    const target = f.peers === 3 && f.clients === 64 && f.outstanding === 64 ? (f.op === 'put' ? 50_000 : f.consistency === 'linearizable' ? 200_000 : null) : null;
    return {
      label: `${kvName(f)} · ${f.peers} peers · ${kvClients(f)}`,
      value: f.opsPerSec,
      error: f.error,
      bound: b === null ? null : kvBoundOn(f) === 'ops/s' ? b.value : (f.outstanding * 1000) / b.value,
      target,
      color: color[kvName(f)] ?? COLORS[7]!,
      opacity: f.clients === 1 && f.outstanding === 1 ? 0.6 : 0.9,
    };
  });
}

function barPanel(title: string, subtitle: string, figs: Bar[], y0: number): { svg: string; h: number } {
  if (figs.length === 0) return { svg: '', h: 0 };
  const rowH = 17;
  const x0 = 300;
  const x1 = W - 90;
  const top = y0 + 44;
  const [lo, hi] = decadeBounds(figs.flatMap((f) => [f.value, f.bound ?? Number.NaN, f.target ?? Number.NaN]));
  const sx = logScale(lo, hi, x0, x1);
  const h = 44 + figs.length * rowH + 40;
  const out: string[] = [];
  out.push(text(20, y0 + 18, title, 'font-size="15" font-weight="600"'));
  out.push(text(20, y0 + 34, subtitle, 'font-size="11" fill="#555"'));
  const bottom = top + figs.length * rowH;
  for (const t of logTicks(lo, hi)) {
    const x = sx(t);
    out.push(line(x, top - 4, x, bottom, `stroke="${String(t).startsWith('1') ? '#ccc' : '#eee'}"`));
    out.push(text(x, bottom + 14, fmtRate(t), 'font-size="10" text-anchor="middle" fill="#555"'));
  }
  figs.forEach((f, k) => {
    const y = top + k * rowH;
    out.push(text(x0 - 8, y + 12, f.label, 'font-size="11" text-anchor="end"'));
    if (!Number.isFinite(f.value)) {
      out.push(text(x0 + 4, y + 12, `error: ${f.error ?? ''}`, 'font-size="11" fill="#a40000"'));
      return;
    }
    const w = Math.max(1, sx(f.value) - x0);
    out.push(`<rect x="${x0}" y="${y + 2}" width="${w.toFixed(1)}" height="${rowH - 5}" fill="${f.color}" opacity="${f.opacity}"><title>${esc(`${int(f.value)}/s`)}</title></rect>`);
    out.push(text(x0 + w + 4, y + 12, int(f.value), 'font-size="10" fill="#333"'));
    if (f.bound !== null) {
      const bx = sx(f.bound);
      out.push(`${line(bx, y, bx, y + rowH - 1, 'stroke="#000" stroke-width="2"')}`);
    }
    if (f.target !== null) {
      const tx = sx(f.target);
      out.push(line(tx, y - 1, tx, y + rowH, 'stroke="#cc0000" stroke-width="2" stroke-dasharray="3,2"'));
    }
  });
  return { svg: out.join('\n'), h };
}

/** CDF panel: each series is ascending samples (or evenly spaced quantiles). */
function cdfPanel(
  title: string,
  subtitle: string,
  y0: number,
  series: { name: string; values: number[] }[],
  marks: { at: number; label: string; dashed: boolean; color: string }[],
  log: boolean,
  /** true: the values are raw samples (drawn as the empirical CDF's steps); false: evenly spaced quantiles. */
  steps: boolean,
): { svg: string; h: number } {
  const used = series.filter((s) => s.values.length > 0);
  if (used.length === 0) return { svg: '', h: 0 };
  const x0 = 70;
  const x1 = W - 290;
  const top = y0 + 44;
  const ph = 220;
  const bottom = top + ph;
  const all = used.flatMap((s) => s.values).concat(marks.map((m) => m.at));
  let sx: (v: number) => number;
  let ticks: number[];
  if (log) {
    const [lo, hi] = decadeBounds(all);
    sx = logScale(lo, hi, x0, x1);
    ticks = logTicks(lo, hi);
  } else {
    const max = Math.max(...all.filter(Number.isFinite));
    const step = max > 400 ? 100 : 50;
    const hi = Math.ceil((max * 1.05) / step) * step;
    sx = (v) => x0 + (v / hi) * (x1 - x0);
    ticks = [];
    for (let t = 0; t <= hi; t += step) ticks.push(t);
  }
  const sy = (q: number): number => bottom - q * ph;
  const out: string[] = [];
  out.push(text(20, y0 + 18, title, 'font-size="15" font-weight="600"'));
  out.push(text(20, y0 + 34, subtitle, 'font-size="11" fill="#555"'));
  for (const t of ticks) {
    out.push(line(sx(t), top, sx(t), bottom, 'stroke="#eee"'));
    out.push(text(sx(t), bottom + 14, log ? tickMs(t) : `${t} ms`, 'font-size="10" text-anchor="middle" fill="#555"'));
  }
  for (const q of [0, 0.25, 0.5, 0.75, 0.9, 0.99, 1]) {
    out.push(line(x0, sy(q), x1, sy(q), `stroke="${q === 0 || q === 1 ? '#ccc' : '#eee'}"${q === 0.99 ? ' stroke-dasharray="2,2"' : ''}`));
    if (q !== 0.99) out.push(text(x0 - 6, sy(q) + 3, q === 1 ? 'max' : q === 0 ? 'min' : `p${Math.round(q * 100)}`, 'font-size="10" text-anchor="end" fill="#555"'));
  }
  for (const m of marks) {
    out.push(line(sx(m.at), top, sx(m.at), bottom, `stroke="${m.color}" stroke-width="1.5"${m.dashed ? ' stroke-dasharray="5,3"' : ''}`));
  }
  used.forEach((s, k) => {
    const v = [...s.values].sort((a, b) => a - b);
    const n = v.length;
    const pts = steps
      ? v.map((x, i) => `${sx(x).toFixed(1)},${sy(i / n).toFixed(1)} ${sx(x).toFixed(1)},${sy((i + 1) / n).toFixed(1)}`).join(' ')
      : v.map((x, i) => `${sx(x).toFixed(1)},${sy(n === 1 ? 1 : i / (n - 1)).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${COLORS[k % COLORS.length]}" stroke-width="2"/>`);
  });
  let ly = top + 4;
  used.forEach((s, k) => {
    out.push(line(x1 + 14, ly + 4, x1 + 34, ly + 4, `stroke="${COLORS[k % COLORS.length]}" stroke-width="3"`));
    out.push(text(x1 + 40, ly + 8, s.name, 'font-size="11"'));
    ly += 16;
  });
  ly += 6;
  for (const m of marks) {
    out.push(line(x1 + 14, ly + 4, x1 + 34, ly + 4, `stroke="${m.color}" stroke-width="1.5"${m.dashed ? ' stroke-dasharray="5,3"' : ''}`));
    out.push(text(x1 + 40, ly + 8, m.label, 'font-size="11"'));
    ly += 16;
  }
  return { svg: out.join('\n'), h: 44 + ph + 34 };
}

function textPanel(r: BenchReport, y0: number): { svg: string; h: number } {
  const l = r.limits;
  const lines: string[] = [
    `MessagePort round trip p50 ${ms(l.portRtt.p50)} (p99 ${ms(l.portRtt.p99)})  ·  durable LMDB txn p50 ${ms(l.lmdbTxn.p50)} (p99 ${ms(l.lmdbTxn.p99)})  ·  write+fdatasync p50 ${ms(l.fsync.p50)} (p99 ${ms(l.fsync.p99)})`,
    `durable lmdb-js puts/s (1024 per txn), one environment: ${Object.entries(l.lmdbBatch)
      .map(([s, v]) => `${bytes(Number(s))} ${int(v)}`)
      .join(', ')}`,
    `  per environment with n environments committing at once: ${Object.entries(l.lmdbConcurrent)
      .flatMap(([n, by]) => Object.entries(by).map(([s, v]) => `n=${n}, ${bytes(Number(s))}: ${int(v)}`))
      .join(' · ')}`,
    `durable 1-put transaction with several envs at once (mean): ${Object.entries(l.lmdbConcurrentTxn)
      .map(([n, v]) => `${n} envs ${ms(v)}`)
      .join(', ')}  ·  quorum round (mean): ${Object.entries(l.quorumRound ?? {})
      .map(([n, q]) => `${n} peers ${ms(q.dist.mean)}`)
      .join(', ')}  ·  MessagePort packed entries/s: ${Object.entries(l.portPacked)
      .map(([s, v]) => `${bytes(Number(s))} ${int(v)}`)
      .join(', ')}`,
  ];
  if (r.idle && !r.idle.error) lines.push(`idle ${r.idle.peers}-peer cluster: ${r.idle.cpuPct.toFixed(2)}% of one core, RSS ${r.idle.rssMiB.toFixed(0)} MiB`);
  const out: string[] = [text(20, y0 + 18, 'Machine limits (same run) and targets', 'font-size="15" font-weight="600"')];
  let y = y0 + 38;
  for (const s of lines) {
    out.push(text(20, y, s, 'font-size="11"'));
    y += 16;
  }
  y += 4;
  for (const t of r.targets) {
    const mark = t.met === null ? '·' : t.met ? '✓' : '✗';
    const color = t.met === null ? '#555' : t.met ? '#4e9a06' : '#cc0000';
    out.push(text(20, y, `${mark} ${t.name}: ${t.measured} (goal ${t.goal})`, `font-size="11" fill="${color}"`));
    y += 16;
  }
  return { svg: out.join('\n'), h: y - y0 + 8 };
}

export function renderChart(r: BenchReport): string {
  const parts: string[] = [];
  let y = 0;
  const m = r.machine;
  parts.push(text(20, 26, `raftwork bench · ${r.startedAt.slice(0, 19).replace('T', ' ')} UTC${r.options.quick ? ' · --quick' : ''}`, 'font-size="18" font-weight="700"'));
  const noise =
    (m.otherProcessesCpuPct === null ? '' : ` · other processes used ${m.otherProcessesCpuPct.toFixed(1)}% of the machine meanwhile`) +
    (m.stealPct === null || m.stealPct === undefined ? '' : ` · steal ${m.stealPct.toFixed(1)}%`);
  parts.push(text(20, 44, `${m.cpus} × ${m.cpuModel} · Node ${m.node} · ${m.platform} ${m.kernel} · lmdb ${m.lmdb}${noise}`, 'font-size="11" fill="#555"'));
  y = 56;
  const add = (p: { svg: string; h: number }): void => {
    if (p.h === 0) return;
    parts.push(p.svg);
    y += p.h + 10;
  };
  add(
    barPanel(
      'Commit throughput: commands applied on the leader per second (log scale)',
      'bar: measured · black tick: the machine bound (see JSON) · red dashed tick: target · 1 outstanding uses propose(), 64/1024 use proposeBatch()',
      raftBars(r),
      y,
    ),
  );
  const l = r.limits;
  const bound = l.lmdbTxn.p50 + l.portRtt.p50;
  add(
    cdfPanel(
      'Commit latency, sequential: propose() to onApply on the leader (CDF, log scale)',
      'one command at a time, 64-byte commands',
      y,
      [
        ...r.latency.filter((f) => f.dist).map((f) => ({ name: `${f.storage === 'lmdb' ? 'lmdb fsync' : 'memory'} · ${f.peers} peers`, values: f.sketch })),
      ],
      [
        { at: bound, label: `LMDB txn + round trip p50 (${ms(bound)})`, dashed: false, color: '#000' },
        { at: 1.3 * bound, label: `target p50: 1.3 × that (${ms(1.3 * bound)})`, dashed: true, color: '#cc0000' },
      ],
      true,
      false,
    ),
  );
  add(
    cdfPanel(
      'Election latency: to the first command committed by a new leader (CDF)',
      `election timeout ${r.cluster.electionTimeoutMs.join('-')} ms, heartbeat ${r.cluster.heartbeatMs} ms, durable LMDB`,
      y,
      r.election.map((f) => ({ name: `${f.kind === 'crash' ? 'leader crash' : 'leader partitioned'} · ${f.peers} peers (${f.trials})`, values: f.samples })),
      [
        { at: r.cluster.electionTimeoutMs[0], label: `shortest timeout (${r.cluster.electionTimeoutMs[0]} ms)`, dashed: false, color: '#000' },
        { at: 160, label: 'target p50 (160 ms)', dashed: true, color: '#cc0000' },
        { at: 300, label: 'target p99 (300 ms)', dashed: true, color: '#ff7f7f' },
      ],
      false,
      true,
    ),
  );
  if (r.kv && r.kv.length > 0) {
    add(
      barPanel(
        'Key-value store: operations answered per second (log scale)',
        'durable, 64-byte values, each client one operation at a time · black tick: the bound (1 client: 1 / the floor of one operation) · red dashed tick: target',
        kvBars(r),
        y,
      ),
    );
    const rtt = l.portRtt.p50;
    add(
      cdfPanel(
        'Key-value store: latency of one operation, call to answer (CDF, log scale)',
        'openStore() clients, each one operation at a time · RTT: MessagePort round trip p50 · with 64 clients, operations queue behind each other',
        y,
        r.kv.filter((f) => f.dist).map((f) => ({ name: `${kvName(f)} · ${kvClients(f)}`, values: f.sketch })),
        [
          { at: bound, label: `put floor: LMDB txn + RTT (${ms(bound)})`, dashed: false, color: '#000' },
          { at: 2 * rtt, label: `linearizable get floor: 2 RTT (${ms(2 * rtt)})`, dashed: true, color: '#000' },
          { at: rtt, label: `lease get floor: 1 RTT (${ms(rtt)})`, dashed: true, color: '#888' },
        ],
        true,
        false,
      ),
    );
  }
  add(textPanel(r, y));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${Math.ceil(y)}" viewBox="0 0 ${W} ${Math.ceil(y)}" ${FONT}>
<rect width="100%" height="100%" fill="#fff"/>
${parts.join('\n')}
</svg>
`;
}
