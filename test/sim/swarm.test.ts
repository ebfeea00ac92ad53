import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSeed } from '../../src/sim/run-seed.js';
import { PROFILES } from '../../src/sim/profiles.js';
import { REGRESSION_SEEDS } from '../../src/sim/regressions.js';

/**
 * A bounded swarm: every fault profile, a fixed range of seeds, 3 and 5 peers. Seeds are fixed,
 * so a failure here reproduces with the command it prints.
 */
const SEEDS_PER_PROFILE = 40;

for (const profile of PROFILES) {
  for (const peers of [3, 5]) {
    test(`safety and liveness hold on ${SEEDS_PER_PROFILE} seeds of profile ${profile.name} with ${peers} peers`, () => {
      for (let seed = 1; seed <= SEEDS_PER_PROFILE; seed++) {
        const r = runSeed({ seed, peers, profile: profile.name });
        assert.ok(r.ok, `seed ${seed} failed: ${r.violation}\nreplay: npm run sim -- --seed ${seed} --peers ${peers} --profile ${profile.name}\n${(r.trace ?? []).slice(-40).join('\n')}`);
      }
    });
  }
}

test('every regression seed passes', () => {
  for (const s of REGRESSION_SEEDS) {
    const r = runSeed(s);
    assert.ok(r.ok, `regression seed ${JSON.stringify(s)} failed: ${r.violation}`);
  }
});

test('a run is reproducible: the same seed gives the same outcome', () => {
  const a = runSeed({ seed: 7, peers: 5, profile: 'chaos' });
  const b = runSeed({ seed: 7, peers: 5, profile: 'chaos' });
  assert.deepEqual(a, b);
});
