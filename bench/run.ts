/**
 * npm run bench: the benchmark suite. Until the cluster benchmarks land, it measures the
 * deterministic simulator: how fast whole simulated clusters run under each fault profile.
 */
import { Bench } from 'tinybench';
import { PROFILES } from '../src/sim/profiles.js';
import { runSeed } from '../src/sim/run-seed.js';

const quick = process.argv.includes('--quick');
const bench = new Bench({ time: quick ? 200 : 1000, iterations: 3 });
for (const profile of PROFILES) {
  let seed = 1;
  bench.add(`sim ${profile.name} (5 peers, 4 s simulated)`, () => {
    const r = runSeed({ seed: seed++, peers: 5, profile: profile.name });
    if (!r.ok) throw new Error(`seed ${r.seed} failed: ${r.violation}`);
  });
}
await bench.run();
console.log('task                                        seeds/s   p50 ms   p99 ms');
for (const task of bench.tasks) {
  const r = task.result;
  if (r.state !== 'completed') {
    console.log(`${task.name}: ${r.state}`);
    continue;
  }
  console.log(
    `${task.name.padEnd(42)} ${r.throughput.mean.toFixed(0).padStart(8)} ${r.latency.p50!.toFixed(2).padStart(8)} ${r.latency.p99!.toFixed(2).padStart(8)}`,
  );
}
