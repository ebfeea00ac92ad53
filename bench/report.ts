/**
 * Bounds (each Raft figure against the machine limit that bounds it), the issue's targets, and
 * the plain-text report.
 */
import { bytes, int, ms, pct, ratio, table } from '../src/profile/format.js';
import { LMDB_BATCH } from './limits.js';
import { ELECTION_TIMEOUT_MS } from './raft.js';
import { DEFAULT_COMPACT_EVERY } from '../src/profile/workload.js';
import type { BenchReport, Bound, ElectionFigure, ElectionRetry, KvFigure, LatencyFigure, Limits, Machine, Target, ThroughputFigure } from './types.js';

export function throughputBound(f: ThroughputFigure, l: Limits): Bound | null {
  if (!Number.isFinite(f.commitsPerSec)) return null;
  let what: string;
  let value: number;
  if (f.outstanding === 1) {
    if (f.storage === 'lmdb') {
      value = 1000 / (l.lmdbTxn.p50 + l.portRtt.p50);
      what = '1 / (durable LMDB txn p50 + port round trip p50)';
    } else {
      value = 1000 / l.portRtt.p50;
      what = '1 / port round trip p50';
    }
  } else if (f.storage === 'lmdb') {
    value = l.lmdbConcurrent[f.peers]?.[f.size] ?? Number.NaN;
    what = `durable lmdb-js puts/s per env, ${f.peers} envs at once, ${LMDB_BATCH} x ${f.size} B per txn`;
    // Small commands as many in flight as the quorum round carries: the round is the tighter cap.
    const round = f.size <= 128 ? quorumRoundCeiling(l, f.peers, f.outstanding) : null;
    if (round !== null && !(round.value >= value)) ({ value, what } = round);
  } else {
    value = l.portPacked[f.size] ?? Number.NaN;
    what = `entries/s through a MessagePort, 1024 x ${f.size} B per message`;
  }
  return Number.isFinite(value) ? { what, value, ratio: f.commitsPerSec / value } : null;
}

export function latencyBound(f: LatencyFigure, l: Limits): Bound | null {
  if (!f.dist) return null;
  const value = f.storage === 'lmdb' ? l.lmdbTxn.p50 + l.portRtt.p50 : l.portRtt.p50;
  const what = f.storage === 'lmdb' ? 'durable LMDB txn p50 + port round trip p50' : 'port round trip p50';
  return { what, value, ratio: f.dist.p50 / value };
}

/** How a KV figure is held against its bound: one operation outstanding by its p50, more by its rate. */
export function kvBoundOn(f: Pick<KvFigure, 'outstanding'>): 'p50' | 'ops/s' {
  return f.outstanding === 1 ? 'p50' : 'ops/s';
}

/**
 * One operation outstanding (1 client): the p50 against the least one operation can take.
 *   put: a durable LMDB transaction (the log entry; leader and followers write in parallel)
 *     plus a round trip (the same floor as the Raft commit latency's);
 *   linearizable get: two round trips (client to leader, and the leader's ReadIndex heartbeat
 *     round to a majority; nothing is written);
 *   lease get: one round trip (client to leader).
 * More outstanding: ops/s against outstanding / that floor (Little's law: with N operations in
 * flight, each taking at least the floor, no more than N / floor answers per second). For puts
 * the floor uses the durable 1-put transaction measured with `peers` environments committing at
 * once, and the rate is capped by what those environments commit in large batches, and, when the
 * run measured it for as many commands, by the quorum round (quorumRoundCeiling). Gets have no
 * batch limit worth the name (a MessagePort carries tens of millions of packed entries a second):
 * with many clients they are bounded by the main thread's CPU, which no limit here measures.
 */
export function kvBound(f: KvFigure, l: Limits): Bound | null {
  const rtt = l.portRtt.p50;
  if (kvBoundOn(f) === 'p50') {
    if (!f.dist) return null;
    const [value, what] =
      f.op === 'put'
        ? [l.lmdbTxn.p50 + rtt, 'durable LMDB txn p50 + port round trip p50']
        : f.consistency === 'lease'
          ? [rtt, 'port round trip p50 (client to leader)']
          : [2 * rtt, '2 port round trips p50 (client to leader, ReadIndex round)'];
    return { what, value, ratio: f.dist.p50 / value };
  }
  if (!Number.isFinite(f.opsPerSec)) return null;
  const n = f.outstanding;
  let value: number;
  let what: string;
  if (f.op === 'put') {
    const txn = l.lmdbConcurrentTxn[f.peers];
    const little = (n * 1000) / ((txn ?? l.lmdbTxn.p50) + rtt);
    const batch = l.lmdbConcurrent[f.peers]?.[f.size] ?? l.lmdbBatch[f.size];
    const round = quorumRoundCeiling(l, f.peers, n);
    if (batch !== undefined && batch < little) {
      value = batch;
      what = `durable lmdb-js puts/s per env, ${f.peers} envs at once, ${LMDB_BATCH} x ${f.size} B per txn`;
    } else {
      value = little;
      what = `${n} in flight / (durable 1-put txn${txn === undefined ? ' p50' : `, ${f.peers} envs at once`} + port round trip p50)`;
    }
    if (round !== null && round.value < value) ({ value, what } = round);
  } else if (f.consistency === 'lease') {
    value = (n * 1000) / rtt;
    what = `${n} in flight / port round trip p50`;
  } else {
    value = (n * 1000) / (2 * rtt);
    what = `${n} in flight / 2 port round trips p50`;
  }
  return { what, value, ratio: f.opsPerSec / value };
}

export function electionBound(f: ElectionFigure): Bound | null {
  if (!f.dist) return null;
  const value = ELECTION_TIMEOUT_MS[0];
  return { what: `the shortest election timeout (${value} ms)`, value, ratio: f.dist.p50 / value };
}

/**
 * The least a sequential commit (propose() on the main thread to onApply there) can take on this
 * machine, from this run's limits, or null when the concurrent transaction was not measured.
 * A commit needs the entry durable on a majority, so on some follower: the entry goes main ->
 * leader -> follower, that follower's transaction runs while every other peer writes the same
 * entry (the "N environments at once" limit), and the answer goes follower -> leader -> main.
 * Four one-way hops are two round trips. The leader's own write runs in parallel and adds
 * nothing to the floor; nothing else on the path (encoding, the core, the apply stream) is counted.
 */
export function sequentialCommitFloor(limits: Limits, peers: number): { value: number; what: string } | null {
  const txn = limits.lmdbConcurrentTxn[peers];
  if (txn === undefined) return null;
  const rtt = limits.portRtt.p50;
  return {
    value: txn + 2 * rtt,
    what:
      `a follower's durable transaction while the other ${peers - 1} peers write theirs (${ms(txn)}) + the four thread hops ` +
      `main -> leader -> follower -> leader -> main (2 round trips, ${ms(2 * rtt)})`,
  };
}

/**
 * The most puts per second `inFlight` clients, each one put at a time, can get on this machine,
 * from this run's quorum round (bench/quorum-round.ts), or null when the run did not measure one
 * for `peers` peers and rounds of `inFlight` commands. With `inFlight` puts in flight, each
 * answered no sooner than its round is durable on a majority, the rate is at most
 * inFlight / mean round (Little's law). The round has no Raft logic, no state machine and no
 * client code: the store's rounds can only be longer.
 */
export function quorumRoundCeiling(limits: Limits, peers: number, inFlight: number): { value: number; what: string } | null {
  const q = limits.quorumRound?.[peers];
  if (q === undefined || q.entries !== inFlight || !(q.dist.mean > 0)) return null;
  return {
    value: (inFlight * 1000) / q.dist.mean,
    what: `${inFlight} in flight / mean quorum round, ${ms(q.dist.mean)} (${q.entries} x ${q.entryBytes} B; hops and durable writes, no Raft logic)`,
  };
}

export function targets(r: Pick<BenchReport, 'limits' | 'throughput' | 'latency' | 'election' | 'idle' | 'kv'>): Target[] {
  const out: Target[] = [];
  for (const [peers, goal] of [
    [5, 200_000],
    [3, 300_000],
  ] as const) {
    const f = r.throughput.find((t) => t.storage === 'lmdb' && t.peers === peers && t.size === 64 && t.outstanding === 1024 && t.call === 'proposeBatch');
    out.push({
      name: `commit throughput, ${peers} peers, 64 B, durable, 1024 outstanding`,
      goal: `>= ${int(goal)}/s`,
      measured: f ? (f.error ? `error: ${f.error}` : `${int(f.commitsPerSec)}/s`) : 'not measured',
      met: f && !f.error ? f.commitsPerSec >= goal : null,
    });
  }
  const lat = r.latency.find((t) => t.storage === 'lmdb' && t.peers === 3 && t.size === 64);
  const bound = 1.3 * (r.limits.lmdbTxn.p50 + r.limits.portRtt.p50);
  const floor = sequentialCommitFloor(r.limits, 3);
  out.push({
    name: 'sequential commit latency p50, 3 peers, durable',
    goal: `<= 1.3 x (LMDB txn ${ms(r.limits.lmdbTxn.p50)} + round trip ${ms(r.limits.portRtt.p50)}) = ${ms(bound)}`,
    measured: lat?.dist ? `${ms(lat.dist.p50)} (${ratio(lat.dist.p50 / (bound / 1.3))} the sum)` : lat?.error ? `error: ${lat.error}` : 'not measured',
    met: lat?.dist ? lat.dist.p50 <= bound : null,
    ...(floor !== null && floor.value > bound
      ? {
          floor:
            `the goal (${ms(bound)}) is below this run's floor for a commit, ${ms(floor.value)}: ${floor.what}`,
        }
      : {}),
  });
  const crash = r.election.filter((e) => e.kind === 'crash' && e.dist).sort((a, b) => b.peers - a.peers)[0];
  const tag = crash ? `, ${crash.peers} peers, ${crash.trials} trials` : '';
  out.push({
    name: `election after a leader crash, p50${tag}`,
    goal: '<= 160 ms',
    measured: crash?.dist ? ms(crash.dist.p50) : 'not measured',
    met: crash?.dist ? crash.dist.p50 <= 160 : null,
  });
  out.push({
    name: `election after a leader crash, p99${tag}`,
    goal: '<= 300 ms',
    measured: crash?.dist ? ms(crash.dist.p99) : 'not measured',
    met: crash?.dist ? crash.dist.p99 <= 300 : null,
  });
  const idle = r.idle;
  out.push({
    name: `idle ${idle?.peers ?? 5}-peer cluster CPU (RSS stated)`,
    goal: '< 2% of one core',
    measured: idle && !idle.error ? `${pct(idle.cpuPct, 2)} of a core; RSS ${idle.rssMiB.toFixed(0)} MiB (${(idle.rssMiB - idle.rssBeforeMiB).toFixed(0)} MiB over the process before)` : 'not measured',
    met: idle && !idle.error ? idle.cpuPct < 2 : null,
  });
  // Issue 6: the key-value store with 64 independent clients, each one operation at a time.
  for (const [name, consistency, goal] of [
    ['KV puts/s, 3 peers, 64 clients, durable', null, 50_000],
    ['KV linearizable gets/s, 3 peers, 64 clients', 'linearizable', 200_000],
  ] as const) {
    const f = r.kv?.find((x) => x.op === (consistency ? 'get' : 'put') && x.consistency === consistency && x.peers === 3 && x.clients === 64 && x.outstanding === 64);
    const ceiling = consistency === null ? quorumRoundCeiling(r.limits, 3, 64) : null;
    out.push({
      name,
      goal: `>= ${int(goal)}/s`,
      measured: r.kv === null ? 'not measured (no key-value store in this build)' : f ? (f.error ? `error: ${f.error}` : `${int(f.opsPerSec)}/s`) : 'not measured',
      met: f && !f.error ? f.opsPerSec >= goal : null,
      ...(ceiling !== null && ceiling.value < goal
        ? {
            floor:
              `the goal needs a round of at most ${ms((64 * 1000) / goal)} (64 clients / ${int(goal)}/s), and this run's ceiling is ` +
              `${int(ceiling.value)}/s: ${ceiling.what}`,
          }
        : {}),
    });
  }
  return out;
}

const dash = (s: string | undefined): string => s ?? '-';

/**
 * Each put figure with many clients beside the log's own rate with as many commands in flight
 * (the durable proposeBatch figure of the same run, same peers, 64 B). Every put is one command of
 * that log, so the share tells how much of the gap to a goal is the store's own work and how much
 * the log's. Not a strict ceiling: the store's clients reach the leader over their own port, the
 * bench's proposals through comlink, the two runs see different moments of the disk, and the
 * store's figure warms up longer (its hot path takes V8 about 10 s to compile).
 */
export function putsAgainstLog(kv: readonly KvFigure[], log: readonly ThroughputFigure[]): string[] {
  const out: string[] = [];
  for (const f of kv) {
    if (f.op !== 'put' || f.clients < 2 || f.error !== undefined) continue;
    const l = log.find((t) => t.storage === 'lmdb' && t.peers === f.peers && t.size === 64 && t.outstanding === f.outstanding && t.call === 'proposeBatch' && t.error === undefined);
    if (!l) continue;
    out.push(
      `  puts with ${f.clients} clients: ${int(f.opsPerSec)}/s, ${share(f.opsPerSec / l.commitsPerSec)} of the log alone with ${f.outstanding} commands in flight in this run (${l.id}: ${int(l.commitsPerSec)}/s; the puts measured after ${f.warmupSeconds} s of warm-up, the log's after ${l.warmupSeconds} s)`,
    );
  }
  return out;
}

/** A line for each figure measured a second time because an election cut its first run short. */
export function retriedLines(figs: readonly ({ readonly id: string } & ElectionRetry)[]): string[] {
  return figs.filter((f) => f.retried !== undefined).map((f) => `  ${f.id}: measured again after an election cut the first run short: ${f.retried}`);
}

/** A fraction as a percentage with enough digits to be read: 0.4 -> "40%", 0.0123 -> "1.2%". */
function share(v: number): string {
  if (!Number.isFinite(v)) return '-';
  const p = v * 100;
  return `${p >= 10 ? p.toFixed(0) : p >= 1 ? p.toFixed(1) : p.toFixed(2)}%`;
}

/**
 * What else used the machine during the run, in one sentence, or null where it is unknown. Other
 * processes and steal (the hypervisor running something else on this VM's cores) both lower
 * every figure; from 5% on, the sentence says so.
 */
export function noiseLine(m: Machine): string | null {
  const parts: string[] = [];
  if (m.otherProcessesCpuPct !== null) parts.push(`other processes used ${m.otherProcessesCpuPct.toFixed(1)}% of the machine`);
  if (m.stealPct !== null && m.stealPct !== undefined) parts.push(`the hypervisor held back ${m.stealPct.toFixed(1)}% of its CPU time (steal)`);
  if (parts.length === 0) return null;
  const busy = (m.otherProcessesCpuPct ?? 0) >= 5 || (m.stealPct ?? 0) >= 5;
  const s = `During the run ${parts.join(', and ')} (load average ${m.loadAvgAtStart.toFixed(1)} at the start)`;
  return s + (busy ? ': a shared machine; these figures are lower than a quiet one gives.' : '.');
}

export function renderText(r: BenchReport): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`raftwork bench  ${r.startedAt}  (${r.seconds.toFixed(0)} s${r.options.quick ? ', --quick' : ''})`);
  out.push(`${m.cpus} x ${m.cpuModel}, ${int(m.memoryMiB)} MiB, ${m.platform} ${m.kernel}, Node ${m.node}, lmdb ${m.lmdb}, tinybench ${m.tinybench}${m.commit ? `, commit ${m.commit.slice(0, 10)}` : ''}`);
  const noise = noiseLine(m);
  if (noise !== null) out.push(noise);
  out.push(`Clusters: default timing (election timeout ${r.cluster.electionTimeoutMs.join('-')} ms, heartbeat ${r.cluster.heartbeatMs} ms). ${r.cluster.note}`);

  const l = r.limits;
  out.push('\nMachine limits (this run)');
  const lim: string[][] = [['limit', 'p50', 'p99', 'rate']];
  lim.push(['MessagePort round trip, worker <-> worker, 8 B', ms(l.portRtt.p50), ms(l.portRtt.p99), '']);
  for (const [s, v] of Object.entries(l.portPacked)) lim.push([`MessagePort, 1024 entries x ${bytes(Number(s))} packed per message`, '', '', `${int(v)} entries/s`]);
  lim.push(['durable lmdb-js transaction, 1 put of 64 B (overlappingSync false)', ms(l.lmdbTxn.p50), ms(l.lmdbTxn.p99), '']);
  for (const [s, v] of Object.entries(l.lmdbBatch)) lim.push([`durable lmdb-js transactions of ${LMDB_BATCH} puts x ${bytes(Number(s))}`, '', '', `${int(v)} puts/s`]);
  for (const [n, bySize] of Object.entries(l.lmdbConcurrent)) {
    for (const [s, v] of Object.entries(bySize)) lim.push([`  the same, ${n} environments at once (${n} threads), ${bytes(Number(s))}`, '', '', `${int(v)} puts/s each`]);
  }
  for (const [n, v] of Object.entries(l.lmdbConcurrentTxn)) lim.push([`durable 1-put transaction, ${n} environments at once (mean)`, ms(v), '', '']);
  for (const [n, q] of Object.entries(l.quorumRound ?? {})) {
    lim.push([
      `quorum round, ${n} peers, ${q.entries} x ${bytes(q.entryBytes)} (skeleton: hops + durable writes)`,
      ms(q.dist.p50),
      ms(q.dist.p99),
      `mean ${ms(q.dist.mean)}: ${int((q.entries * 1000) / q.dist.mean)} commands/s`,
    ]);
  }
  lim.push(['write 64 B + fdatasync', ms(l.fsync.p50), ms(l.fsync.p99), '']);
  out.push(table(lim, ['l', 'r', 'r', 'r']));

  if (r.throughput.length > 0) {
    const perEntry = r.throughput.filter((f) => f.logBytesPerEntry !== null);
    const sizes = [...new Set(perEntry.map((f) => f.size))].map((s) => {
      const v = perEntry.filter((f) => f.size === s).map((f) => f.logBytesPerEntry!);
      return `${bytes(s)} -> ${(v.reduce((a, b) => a + b, 0) / v.length).toFixed(0)} B`;
    });
    out.push(
      '\nCommit throughput (commands applied on the leader per second; 1 outstanding uses propose(), more use proposeBatch();' +
        (r.options.compactEvery > 0
          ? `\n  every peer snapshots each ${int(r.options.compactEvery)} entries it applies, as a service would (etcd's default --snapshot-count is ${int(DEFAULT_COMPACT_EVERY)});`
          : '\n  no snapshots: the log grows in every worker for the whole run (--compact-every 0);') +
        `\n  slices: commits/s in each ${Math.max(...r.throughput.map((f) => f.windowMs)).toFixed(0)} ms of the run, p10-p90)` +
        (sizes.length > 0 ? `\n  log bytes per entry as the leader counts them (stats().logBytes): ${sizes.join(', ')}` : ''),
    );
    const rows: string[][] = [['storage', 'peers', 'command', 'outstanding', 'call', 'commits/s', 'slices p10-p90', 'bound', 'of bound', 'bound is']];
    for (const f of r.throughput) {
      const w = f.windows ? `${int(f.windows.p10)}-${int(f.windows.p90)}` : '';
      rows.push([
        f.storage === 'lmdb' ? 'lmdb fsync' : 'memory',
        String(f.peers),
        bytes(f.size),
        String(f.outstanding),
        f.call,
        f.error ? `error: ${f.error}` : int(f.commitsPerSec),
        w,
        f.bound ? int(f.bound.value) : '',
        f.bound ? share(f.bound.ratio) : '',
        dash(f.bound?.what),
      ]);
    }
    out.push(table(rows, ['l', 'r', 'r', 'r', 'l', 'r', 'r', 'r', 'r', 'l']));
    out.push(...retriedLines(r.throughput));
  }

  if (r.latency.length > 0) {
    out.push('\nCommit latency, sequential (propose() to onApply on the leader, one at a time)');
    const rows: string[][] = [['storage', 'peers', 'command', 'samples', 'p50', 'p90', 'p99', 'max', 'bound', 'p50/bound', 'bound is']];
    for (const f of r.latency) {
      const d = f.dist;
      rows.push([
        f.storage === 'lmdb' ? 'lmdb fsync' : 'memory',
        String(f.peers),
        bytes(f.size),
        d ? int(d.n) : '',
        d ? ms(d.p50) : `error: ${f.error}`,
        d ? ms(d.p90) : '',
        d ? ms(d.p99) : '',
        d ? ms(d.max) : '',
        f.bound ? ms(f.bound.value) : '',
        f.bound ? ratio(f.bound.ratio) : '',
        dash(f.bound?.what),
      ]);
    }
    out.push(table(rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l']));
    out.push(...retriedLines(r.latency));
    // The bound above uses one transaction alone; in a commit every peer writes the entry at once.
    const concurrent = r.latency
      .filter((f) => f.storage === 'lmdb' && f.dist !== null && r.limits.lmdbConcurrentTxn[f.peers] !== undefined)
      .map((f) => {
        const txn = r.limits.lmdbConcurrentTxn[f.peers]!;
        return `${f.peers} peers: ${ratio(f.dist!.p50 / (txn + r.limits.portRtt.p50))} of ${ms(txn)} + ${ms(r.limits.portRtt.p50)}`;
      });
    if (concurrent.length > 0) {
      out.push(`  Every peer writes each entry, so its transaction runs while the others' do (machine limits: "N environments at once").`);
      out.push(`  Against that transaction plus the round trip, the lmdb p50 is ${concurrent.join('; ')}.`);
    }
  }

  if (r.election.length > 0) {
    out.push('\nElection latency (to the first command committed by a new leader and applied on it; durable LMDB)');
    const rows: string[][] = [['after', 'peers', 'trials', 'p50', 'p90', 'p99', 'max', 'p50 / 150 ms']];
    for (const f of r.election) {
      const d = f.dist;
      rows.push([
        f.kind === 'crash' ? 'leader crash' : 'leader partitioned away',
        String(f.peers),
        String(f.trials),
        d ? ms(d.p50) : '',
        d ? ms(d.p90) : '',
        d ? ms(d.p99) : '',
        d ? ms(d.max) : '',
        f.bound ? ratio(f.bound.ratio) : '',
      ]);
      if (f.error) rows.push(['', '', '', `error: ${f.error}`, '', '', '', '']);
    }
    out.push(table(rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
  }

  if (r.kv === null) out.push('\nKey-value store: not in this build; its figures join the suite when src/kv exists.');
  else if (r.kv.length > 0) {
    out.push(
      '\nKey-value store (openStore(), durable, 64-byte values over 1,024 keys that exist; each client one operation at a time;' +
        `\n  each figure measured after ${r.kv[0]!.warmupSeconds} s of the same load, while V8 compiles the store's hot path;` +
        '\n  1 client: p50 against the floor of one operation; more in flight: ops/s against (operations in flight / that floor), or a batch limit)',
    );
    const rows: string[][] = [['operation', 'consistency', 'peers', 'clients', 'ops/s', 'p50', 'p90', 'p99', 'bound', 'ratio', 'bound is']];
    for (const f of r.kv) {
      const d = f.dist;
      const onRate = kvBoundOn(f) === 'ops/s';
      rows.push([
        f.op,
        f.consistency ?? '',
        String(f.peers),
        f.outstanding > f.clients ? `${f.clients} (${f.outstanding} in flight)` : String(f.clients),
        f.error ? `error: ${f.error}` : int(f.opsPerSec),
        d ? ms(d.p50) : '',
        d ? ms(d.p90) : '',
        d ? ms(d.p99) : '',
        f.bound ? (onRate ? `${int(f.bound.value)}/s` : ms(f.bound.value)) : '',
        f.bound ? (onRate ? share(f.bound.ratio) : `p50 ${ratio(f.bound.ratio)}`) : '',
        dash(f.bound?.what),
      ]);
    }
    out.push(table(rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l']));
    out.push(...putsAgainstLog(r.kv, r.throughput));
  }

  if (r.idle) {
    const i = r.idle;
    out.push(
      i.error
        ? `\nIdle ${i.peers}-peer cluster: error: ${i.error}`
        : `\nIdle ${i.peers}-peer cluster (durable, leader elected, nothing proposed; whole process over ${i.seconds} s): ` +
            `CPU ${pct(i.cpuPct, 2)} of one core (the process alone: ${pct(i.baselineCpuPct, 2)}), ` +
            (i.wakesPerSec !== null && i.wakesPerSec !== undefined ? `${i.wakesPerSec.toFixed(0)} thread wake-ups a second, ` : '') +
            `RSS ${i.rssMiB.toFixed(0)} MiB (${(i.rssMiB - i.rssBeforeMiB).toFixed(0)} MiB more than before the cluster started)`,
    );
  }

  out.push('\nTargets (issues 4 and 6: 2 cores, 64-byte commands and values, durable)');
  const t: string[][] = [['target', 'goal', 'measured', '']];
  for (const x of r.targets) t.push([x.name, x.goal, x.measured, x.met === null ? '' : x.met ? 'met' : 'MISSED']);
  out.push(table(t, ['l', 'l', 'l', 'l']));
  for (const x of r.targets) if (x.floor !== undefined) out.push(`  Out of reach in this run: ${x.name}: ${x.floor}.`);
  return out.join('\n');
}
