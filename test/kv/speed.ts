/**
 * The store's speed, beside the issue's goals: puts, linearizable gets and lease gets per second
 * with 1 and 64 concurrent clients (each client one operation at a time), p50 and p99 latency.
 * Durable (fsync) unless --nosync. Not part of the test suite:
 *
 *   npm run build && node dist/test/kv/speed.js [--seconds 3] [--peers 3] [--nosync]
 */
import { openStore, type KvClient } from '../../src/kv/index.js';

const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const seconds = opt('seconds', 3);
const peers = opt('peers', 3);
const sync = !args.includes('--nosync');

const GOALS: Record<string, string> = {
  'put/64': '>= 50,000/s',
  'get/64': '>= 200,000/s',
};

const store = await openStore({ peers, sync });
const value = 'v'.repeat(64);
const KEYS = 1000;
for (let i = 0; i < KEYS; i += 100) await Promise.all(Array.from({ length: 100 }, (_, k) => store.put(`key/${i + k}`, value)));

async function measure(name: string, clients: number, op: (c: KvClient, i: number) => Promise<unknown>): Promise<void> {
  const cs = Array.from({ length: clients }, () => store.client());
  // Warm up, then measure.
  for (const ms of [300, seconds * 1000]) {
    const lat: number[] = [];
    const end = performance.now() + ms;
    const t0 = performance.now();
    await Promise.all(
      cs.map(async (c, ci) => {
        for (let i = ci * 7919; performance.now() < end; i++) {
          const t = performance.now();
          await op(c, i);
          lat.push(performance.now() - t);
        }
      }),
    );
    if (ms === 300) continue;
    const took = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    const q = (p: number) => `${lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]!.toFixed(2)} ms`;
    const goal = GOALS[`${name}/${clients}`];
    console.log(
      `${name.padEnd(10)} clients ${String(clients).padStart(3)}  ${Math.round(lat.length / took).toLocaleString('en-US').padStart(9)}/s  p50 ${q(0.5).padStart(9)}  p99 ${q(0.99).padStart(9)}${goal ? `   goal ${goal}` : ''}`,
    );
  }
}

console.log(`raftwork kv: ${peers} peers, ${sync ? 'durable (fsync)' : 'sync: false'}, 64-byte values, ${seconds} s per figure`);
for (const clients of [1, 64]) {
  await measure('put', clients, (c, i) => c.put(`key/${i % KEYS}`, value));
  await measure('get', clients, (c, i) => c.get(`key/${i % KEYS}`));
  await measure('lease get', clients, (c, i) => c.get(`key/${i % KEYS}`, { consistency: 'lease' }));
}
await store.close();
