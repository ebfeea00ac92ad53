import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noiseBetween, parseCpuLine } from '../../bench/noise.js';
import { noiseLine } from '../../bench/report.js';
import type { Machine } from '../../bench/types.js';

test('the cpu line of /proc/stat parses into busy, steal and total ticks', () => {
  const t = parseCpuLine('cpu  60527 0 15297 8195082 5917 0 1780 15916 0 0');
  assert.deepEqual(t, { busy: 60527 + 15297 + 1780, steal: 15916, total: 60527 + 15297 + 8195082 + 5917 + 1780 + 15916 });
});

test('a kernel without a steal column counts no steal', () => {
  assert.equal(parseCpuLine('cpu 10 0 5 100 1 0 0').steal, 0);
});

test('a line that is not the cpu line is refused, saying what it got', () => {
  assert.throws(() => parseCpuLine('intr 1 2 3 4 5'), /not the cpu line of \/proc\/stat: intr/);
  assert.throws(() => parseCpuLine('cpu 1 x 3 4 5'), /unreadable numbers/);
});

test("steal is reported apart from other processes, and this process's own CPU is neither", () => {
  // 200 ticks of 2 cores: 60 busy (40 of them ours), 50 stolen, the rest idle.
  const before = { busy: 1000, steal: 500, total: 10_000 };
  const after = { busy: 1060, steal: 550, total: 10_200 };
  const n = noiseBetween(before, after, 0.4e6)!;
  assert.ok(Math.abs(n.otherProcessesCpuPct - 10) < 1e-9, `other ${n.otherProcessesCpuPct}`);
  assert.ok(Math.abs(n.stealPct - 25) < 1e-9, `steal ${n.stealPct}`);
  assert.equal(noiseBetween(after, after, 0), null, 'no time passed: no figure');
});

test('the report says the machine was shared when steal passes 5%', () => {
  const m = { otherProcessesCpuPct: 0.2, stealPct: 26.3, loadAvgAtStart: 1.5 } as Machine;
  const line = noiseLine(m)!;
  assert.match(line, /held back 26\.3% of its CPU time \(steal\)/);
  assert.match(line, /a shared machine/);
  assert.doesNotMatch(noiseLine({ ...m, stealPct: 0.4 })!, /shared/);
  assert.equal(noiseLine({ ...m, otherProcessesCpuPct: null, stealPct: null }), null);
});
