/**
 * Does LmdbLogStore.write() resolve only once the write is durable?
 *
 * 1. Crash test: a child process writes pipelined batches and prints "ack b" the moment batch b's
 *    write resolves; it is SIGKILLed (by the parent at a random moment, or by itself right after
 *    an ack). The parent reopens the store and checks every acknowledged batch is there, and
 *    that batches are atomic (hard state and entries of one batch together, or neither).
 *    A SIGKILL keeps the OS page cache, so this proves "acknowledged => committed" and crash
 *    consistency, not the fsync itself; hence:
 * 2. Syscall test: the child runs under strace with a delay injected into every fdatasync/fsync;
 *    between "write issued" and "write resolved" there must be a completed fdatasync of data.mdb
 *    followed by a completed write through LMDB's O_DSYNC descriptor (the meta page). Two controls
 *    must fail that check, to show it can: the same run with sync: false, and a child that
 *    acknowledges each write as soon as it is issued.
 * Skipped when strace is missing or ptrace is not allowed.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LmdbLogStore } from '../../src/storage/lmdb-store.js';
import { BATCH, IDENTITY, entryData } from './fixtures/durable-child.js';

const CHILD = fileURLToPath(new URL('./fixtures/durable-child.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'raftwork-durability-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Runs the pipeline child until it has printed `killAt` acks (parent kills) or dies by itself. */
function runChild(dir: string, killAt: number, selfKillAfter: number): Promise<{ maxAck: number; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, 'pipeline', dir, String(selfKillAfter)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let maxAck = 0;
    let acks = 0;
    let buf = '';
    let err = '';
    let disorder = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^ack (\d+)$/.exec(line);
        if (!m) continue;
        const b = Number(m[1]);
        if (b <= maxAck) disorder ||= `acks out of order: ${b} after ${maxAck}`;
        maxAck = b;
        if (++acks === killAt) child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (disorder) reject(new Error(disorder));
      else if (signal !== 'SIGKILL') reject(new Error(`child exited with ${code}/${signal}: ${err}`));
      else resolve({ maxAck, signal });
    });
  });
}

/** Opens the store and checks it against what the child acknowledged. */
async function verify(dir: string, maxAck: number): Promise<number> {
  const s = await LmdbLogStore.open({ path: dir, identity: IDENTITY });
  try {
    const st = await s.load();
    const b = st.hardState.currentTerm;
    assert.ok(b >= maxAck, `batch ${maxAck} was acknowledged but the store holds only up to ${b}`);
    const last = st.entries.length > 0 ? st.entries.at(-1)!.index : (st.snapshot?.index ?? 0);
    // Atomic batches: the hard state of batch b and its entries were committed together.
    assert.equal(last, b * BATCH, `hard state says batch ${b} but the log ends at ${last}`);
    assert.equal(st.hardState.votedFor, b % 3);
    if (st.snapshot) assert.equal(st.snapshot.index % BATCH, 0);
    const first = (st.snapshot?.index ?? 0) + 1;
    assert.equal(st.entries[0]?.index ?? first, first);
    for (const e of st.entries) {
      assert.equal(e.term, Math.ceil(e.index / BATCH));
      assert.deepEqual(Buffer.from(e.data), Buffer.from(entryData(e.index)));
    }
    return b;
  } finally {
    await s.close();
  }
}

describe('LmdbLogStore durability: SIGKILL right after acknowledgements', () => {
  it('every acknowledged write survives, across repeated crashes, and batches stay atomic', { timeout: 120_000 }, async () => {
    const dir = join(root, 'crash');
    let held = 0;
    const rounds: Array<[number, number]> = [
      [17, 0], // parent kills after 17 acks, while up to 8 writes are in flight
      [0, 1], // the child kills itself right after its first ack
      [90, 0], // long enough to compact a few times
      [0, 33],
      [45, 0],
    ];
    for (const [killAt, selfKill] of rounds) {
      const { maxAck } = await runChild(dir, killAt, selfKill);
      assert.ok(maxAck > held, `round made no progress (${maxAck} <= ${held})`);
      held = await verify(dir, maxAck);
    }
  });
});

interface TraceCheck {
  writes: number;
  /** Writes whose ACK was not preceded by fsync(data.mdb) and then an O_DSYNC meta write. */
  undurable: number[];
}

/**
 * Reads an `strace -f` log: per ISSUE/ACK marker pair, was there a completed fdatasync/fsync of
 * data.mdb and after it a completed write through a data.mdb descriptor opened O_DSYNC?
 * Calls interrupted by other threads ("<unfinished ...>" / "<... resumed>") count at completion.
 */
function checkTrace(text: string): TraceCheck {
  const fdKind = new Map<string, 'data' | 'dsync' | 'other'>();
  const unfinished = new Map<string, string>();
  type Ev = { kind: 'issue'; n: number } | { kind: 'ack'; n: number } | { kind: 'fsync' } | { kind: 'dsync-write' };
  const events: Ev[] = [];
  for (const raw of text.split('\n')) {
    const pm = /^(\d+)\s+(.*)$/.exec(raw);
    if (!pm) continue;
    const [, pid, rest0] = pm as unknown as [string, string, string];
    let call = rest0;
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(call);
    if (resumed) {
      const head = unfinished.get(pid);
      unfinished.delete(pid);
      if (head === undefined) continue;
      call = head + resumed[1];
    } else if (call.endsWith('<unfinished ...>')) {
      unfinished.set(pid, call.slice(0, -'<unfinished ...>'.length).trimEnd());
      continue;
    }
    const cm = /^(\w+)\((.*)\)\s+=\s+(-?\d+)/.exec(call);
    if (!cm) continue;
    const [, name, args, retText] = cm as unknown as [string, string, string, string];
    const ret = Number(retText);
    if (name === 'openat' || name === 'open') {
      if (ret < 0) continue;
      const isData = /"[^"]*\/data\.mdb"/.test(args);
      fdKind.set(String(ret), isData ? (args.includes('O_DSYNC') ? 'dsync' : 'data') : 'other');
      continue;
    }
    const fd = /^(\d+)/.exec(args)?.[1] ?? '';
    if ((name === 'fdatasync' || name === 'fsync') && ret === 0 && fdKind.get(fd) === 'data') {
      events.push({ kind: 'fsync' });
    } else if (/^(p?write(64|v)?|pwritev2?)$/.test(name) && ret > 0) {
      if (fdKind.get(fd) === 'dsync') events.push({ kind: 'dsync-write' });
      const mk = /^\d+, "(ISSUE|ACK) (\d+)\\n"/.exec(args);
      if (mk) events.push(mk[1] === 'ISSUE' ? { kind: 'issue', n: Number(mk[2]) } : { kind: 'ack', n: Number(mk[2]) });
    }
  }
  let writes = 0;
  const undurable: number[] = [];
  let state: { n: number; fsync: boolean; meta: boolean } | null = null;
  for (const ev of events) {
    if (ev.kind === 'issue') state = { n: ev.n, fsync: false, meta: false };
    else if (ev.kind === 'fsync') {
      if (state) state.fsync = true;
    } else if (ev.kind === 'dsync-write') {
      if (state?.fsync) state.meta = true;
    } else if (state && ev.n === state.n) {
      writes++;
      if (!state.meta) undurable.push(ev.n);
      state = null;
    }
  }
  return { writes, undurable };
}

function straceWorks(): boolean {
  const r = spawnSync('strace', ['-f', '-qq', '-o', '/dev/null', process.execPath, '-e', '0'], { encoding: 'utf8' });
  return r.status === 0;
}

describe('LmdbLogStore durability: syscall order under strace', () => {
  const available = straceWorks();
  const traced = (sync: boolean, name: string, early = false): { check: TraceCheck; writes: number } => {
    const dir = join(root, name);
    const marker = join(root, `${name}.marker`);
    const trace = join(root, `${name}.trace`);
    const writes = 12;
    const r = spawnSync(
      'strace',
      [
        '-f',
        '-qq',
        '-s',
        '48',
        '-e',
        'trace=openat,open,write,pwrite64,writev,pwritev,pwritev2,fdatasync,fsync',
        // Make every sync slow (20 ms), so a write that resolved early would stand out.
        '-e',
        'inject=fdatasync,fsync:delay_enter=20000',
        '-o',
        trace,
        process.execPath,
        CHILD,
        'sequential',
        dir,
        sync ? '1' : '0',
        marker,
        String(writes),
        early ? 'early' : 'normal',
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(r.status, 0, `traced child failed: ${r.stderr}`);
    return { check: checkTrace(readFileSync(trace, 'utf8')), writes };
  };

  it('every write resolves after fdatasync(data.mdb) and the O_DSYNC meta write', { skip: !available && 'strace is not available or ptrace is not allowed', timeout: 60_000 }, () => {
    const { check, writes } = traced(true, 'strace-sync');
    assert.equal(check.writes, writes, 'every ISSUE/ACK pair was seen in the trace');
    assert.deepEqual(check.undurable, [], `writes acknowledged before they were durable: ${check.undurable.join(', ')}`);
  });

  it('control: with sync: false the same check fails (the check can tell)', { skip: !available && 'strace is not available or ptrace is not allowed', timeout: 60_000 }, () => {
    const { check, writes } = traced(false, 'strace-nosync');
    assert.equal(check.writes, writes);
    assert.equal(check.undurable.length, writes);
  });

  it('control: acknowledging at issue time fails the check although every write is synced', { skip: !available && 'strace is not available or ptrace is not allowed', timeout: 60_000 }, () => {
    const { check, writes } = traced(true, 'strace-early', true);
    assert.equal(check.writes, writes);
    assert.equal(check.undurable.length, writes);
  });
});
