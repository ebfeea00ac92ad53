/**
 * 6.824 lab 2C (persistence) on the simulator. A crash (Lab.crash) stops a peer and loses every
 * write still in flight; a restart (Lab.restart) builds a new core from what its disk holds, as
 * the lab's crash1/start1 do. The Figure 8 tests crash or disconnect leaders soon after they take
 * commands; the churn tests check that every command a client saw committed survives to the end.
 */
import { test } from 'node:test';
import { ELECTION_TIMEOUT_MS, forSeeds, labSeeds, type Handle, type Lab, type Task } from './lab-harness.js';

const SEEDS = labSeeds([1, 2, 3, 4, 5]);

test('2C persist 1: state survives restarts of all peers, of the leader, of a follower', () => {
  forSeeds(SEEDS, { servers: 3 }, (lab) => {
    const i11 = lab.one(lab.cmd(), 3, true);
    const term = lab.checkTerms();

    // Crash and restart all: each comes back with its term and its log from disk.
    for (let i = 0; i < 3; i++) lab.restart(i);
    for (let i = 0; i < 3; i++) {
      const st = lab.sim.status(i);
      lab.check(st.term === term && st.lastLogIndex >= i11, `peer ${i} restarted with term ${st.term} and log ${st.lastLogIndex}, not term ${term} and log >= ${i11}`);
    }
    for (let i = 0; i < 3; i++) {
      lab.disconnect(i);
      lab.connect(i);
    }
    lab.one(lab.cmd(), 3, true);

    const leader1 = lab.checkOneLeader();
    lab.restart(leader1);
    lab.connect(leader1);
    lab.one(lab.cmd(), 3, true);

    const leader2 = lab.checkOneLeader();
    lab.disconnect(leader2);
    const i14 = lab.one(lab.cmd(), 2, true);
    lab.restart(leader2);
    lab.connect(leader2);
    lab.wait(i14, 3, -1); // leader2 rejoins before i3 goes

    const i3 = (lab.checkOneLeader() + 1) % 3;
    lab.disconnect(i3);
    lab.one(lab.cmd(), 2, true);
    lab.restart(i3);
    lab.connect(i3);
    const last = lab.one(lab.cmd(), 3, true);
    for (let i = 1; i <= last; i++) lab.check(lab.nCommitted(i).count === 3, `index ${i} not on all 3 peers`);
  });
});

test('2C persist 2: repeated partitions and restarts of a 5-peer cluster', () => {
  forSeeds(SEEDS, { servers: 5 }, (lab) => {
    for (let iters = 0; iters < 5; iters++) {
      lab.one(lab.cmd(), 5, true);
      const l = lab.checkOneLeader();
      lab.disconnect((l + 1) % 5);
      lab.disconnect((l + 2) % 5);
      lab.one(lab.cmd(), 3, true);

      lab.disconnect((l + 0) % 5);
      lab.disconnect((l + 3) % 5);
      lab.disconnect((l + 4) % 5);
      lab.restart((l + 1) % 5);
      lab.restart((l + 2) % 5);
      lab.connect((l + 1) % 5);
      lab.connect((l + 2) % 5);
      lab.sleep(ELECTION_TIMEOUT_MS);

      lab.restart((l + 3) % 5);
      lab.connect((l + 3) % 5);
      lab.one(lab.cmd(), 3, true);

      lab.connect((l + 4) % 5);
      lab.connect((l + 0) % 5);
    }
    lab.one(lab.cmd(), 5, true);
  });
});

test('2C persist 3: partitioned leader and one follower crash, leader restarts', () => {
  forSeeds(SEEDS, { servers: 3 }, (lab) => {
    lab.one(lab.cmd(), 3, true);
    const l = lab.checkOneLeader();
    lab.disconnect((l + 2) % 3);
    const i102 = lab.one(lab.cmd(), 2, true);

    lab.crash((l + 0) % 3);
    lab.crash((l + 1) % 3);
    lab.connect((l + 2) % 3);
    lab.restart((l + 0) % 3);
    lab.connect((l + 0) % 3);
    // Only l+0 and l+2 are up: 102, which l+2 never received, must have survived on l's disk.
    const i103 = lab.one(lab.cmd(), 2, true);
    lab.check(i103 > i102, `103 at ${i103}, not after 102 at ${i102}`);

    lab.restart((l + 1) % 3);
    lab.connect((l + 1) % 3);
    const last = lab.one(lab.cmd(), 3, true);
    for (let i = 1; i <= last; i++) lab.check(lab.nCommitted(i).count === 3, `index ${i} not on all 3 peers`);
  });
});

/** One of the lab's Figure 8 pauses: usually under 13 ms, one time in ten up to half an election timeout. */
function figure8Pause(lab: Lab): number {
  return lab.randInt(1000) < 100 ? lab.randInt(ELECTION_TIMEOUT_MS / 2) : lab.randInt(13);
}

test('2C Figure 8: leaders crash soon after taking commands, 1000 times', () => {
  forSeeds(SEEDS, { servers: 5 }, (lab) => {
    lab.one(lab.cmd(), 1, true);
    let nup = 5;
    let crashes = 0;
    for (let iters = 0; iters < 1000; iters++) {
      let leader = -1;
      for (let i = 0; i < 5; i++) {
        if (lab.isUp(i) && lab.propose(i, lab.cmd()).ok) leader = i;
      }
      lab.sleep(figure8Pause(lab));
      if (leader !== -1) {
        lab.crash(leader);
        crashes++;
        nup--;
      }
      if (nup < 3) {
        const s = lab.randInt(5);
        if (!lab.isUp(s)) {
          lab.restart(s);
          lab.connect(s);
          nup++;
        }
      }
    }
    lab.check(crashes >= 50, `only ${crashes} leaders crashed in 1000 rounds: the scenario did not exercise Figure 8`);
    for (let i = 0; i < 5; i++) {
      if (!lab.isUp(i)) {
        lab.restart(i);
        lab.connect(i);
      }
    }
    lab.one(lab.cmd(), 5, true);
  });
});

test('2C unreliable agreement: concurrent clients on a lossy network', () => {
  forSeeds(SEEDS, { servers: 5, unreliable: true }, (lab) => {
    lab.runTasks([
      (function* (): Task {
        const clients: Handle<number>[] = [];
        for (let iters = 1; iters < 50; iters++) {
          for (let j = 0; j < 4; j++) clients.push(lab.spawn(lab.oneTask(lab.cmd(), 1, true)));
          yield* lab.oneTask(lab.cmd(), 1, true);
        }
        lab.setUnreliable(false);
        yield* lab.join(clients);
        yield* lab.oneTask(lab.cmd(), 5, true);
      })(),
    ]);
  });
});

test('2C Figure 8 (unreliable): leaders cut off at random, long reordering after round 200', () => {
  forSeeds(SEEDS, { servers: 5, unreliable: true }, (lab) => {
    lab.one(lab.cmd(), 1, true);
    let nup = 5;
    let cuts = 0;
    for (let iters = 0; iters < 1000; iters++) {
      if (iters === 200) lab.setLongReordering(true);
      let leader = -1;
      for (let i = 0; i < 5; i++) {
        if (lab.propose(i, lab.cmd()).ok && lab.connected[i]) leader = i;
      }
      lab.sleep(figure8Pause(lab));
      if (leader !== -1 && lab.randInt(1000) < ELECTION_TIMEOUT_MS / 2) {
        lab.disconnect(leader);
        cuts++;
        nup--;
      }
      if (nup < 3) {
        const s = lab.randInt(5);
        if (!lab.connected[s]) {
          lab.connect(s);
          nup++;
        }
      }
    }
    // Far fewer than in the lab (a median of 12 over seeds 1-200): with long reordering, two
    // thirds of replies arrive 0.2-2.2 s late, so a leader with a bare majority connected mostly
    // fails check-quorum (150 ms) and an election needs every vote reply on time. See the
    // liveness test below.
    lab.check(cuts >= 3, `only ${cuts} leaders cut off in 1000 rounds: the scenario did not exercise Figure 8`);
    for (let i = 0; i < 5; i++) if (!lab.connected[i]) lab.connect(i);
    lab.one(lab.cmd(), 5, true);
  });
});

/**
 * The lab's internalChurn: three clients keep offering commands to whoever takes them while peers
 * disconnect, reconnect, crash and restart every 0.7 s; at the end every command a client saw
 * committed must be in the final log, which every peer holds.
 */
function churn(lab: Lab): void {
  let stop = false;
  function* client(me: number): Task<string[]> {
    const values: string[] = [];
    while (!stop) {
      const x = lab.cmd(`cl${me}`);
      let index = -1;
      for (let i = 0; i < 5; i++) {
        if (!lab.isUp(i)) continue;
        const r = lab.propose(i, x);
        if (r.ok) index = r.index;
      }
      if (index !== -1) {
        // Maybe a leader commits it, maybe not; do not wait forever.
        for (const to of [10, 20, 50, 100, 200]) {
          const { count, cmd } = lab.nCommitted(index);
          if (count > 0) {
            if (cmd === x) values.push(x);
            break;
          }
          yield to;
        }
      } else {
        yield 79 + me * 17;
      }
    }
    return values;
  }

  lab.runTasks([
    (function* (): Task {
      const clients = [0, 1, 2].map((me) => lab.spawn(client(me)));
      for (let iters = 0; iters < 20; iters++) {
        if (lab.randInt(1000) < 200) lab.disconnect(lab.randInt(5));
        if (lab.randInt(1000) < 500) {
          const i = lab.randInt(5);
          if (!lab.isUp(i)) lab.restart(i);
          lab.connect(i);
        }
        if (lab.randInt(1000) < 200) {
          const i = lab.randInt(5);
          if (lab.isUp(i)) lab.crash(i);
        }
        // Often enough that the cluster has not settled from one change to the next.
        yield (ELECTION_TIMEOUT_MS * 7) / 10;
      }
      yield ELECTION_TIMEOUT_MS;
      lab.setUnreliable(false);
      for (let i = 0; i < 5; i++) {
        if (!lab.isUp(i)) lab.restart(i);
        lab.connect(i);
      }
      stop = true;
      yield* lab.join(clients);
      const values = clients.flatMap((c) => c.result());
      lab.check(values.length >= 10, `clients saw only ${values.length} commands commit in 15 s of churn`);

      yield ELECTION_TIMEOUT_MS;
      const last = yield* lab.oneTask(lab.cmd(), 5, true);
      const really = new Set<string>();
      for (let index = 1; index <= last; index++) {
        const v = yield* lab.waitTask(index, 5, -1);
        if (v !== null) really.add(v);
      }
      for (const v of values) lab.check(really.has(v), `client saw ${v} committed, but it is not in the final log`);
    })(),
  ]);
}

test('2C reliable churn: committed commands survive disconnects, crashes and restarts', () => {
  forSeeds(SEEDS, { servers: 5 }, churn);
});

test('2C unreliable churn: the same on a lossy network', () => {
  forSeeds(SEEDS, { servers: 5, unreliable: true }, churn);
});

test(
  '2C liveness: a bare majority keeps a leader most of the time under long reordering',
  () => {
    forSeeds(SEEDS, { servers: 5, unreliable: true }, (lab) => {
      lab.setLongReordering(true);
      lab.disconnect(3);
      lab.disconnect(4);
      // Electing needs every reply of two rounds (Pre-Vote, then the vote) from both other peers,
      // which this network delays two times in three; what is under test is that, once elected,
      // a leader is not deposed by replies that are merely late.
      const hasLeader = () => lab.sim.leaders().some((l) => lab.connected[l.peer]);
      lab.check(lab.sim.runUntil(hasLeader, 20_000), 'no leader within 20 s');
      let withLeader = 0;
      const samples = 1000;
      for (let t = 0; t < samples; t++) {
        lab.sleep(10);
        if (lab.sim.leaders().some((l) => lab.connected[l.peer])) withLeader++;
      }
      lab.check(withLeader >= samples / 2, `a connected leader existed only ${((100 * withLeader) / samples).toFixed(1)}% of 10 s with a majority connected`);
    });
  },
);
