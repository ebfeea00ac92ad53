/**
 * 6.824 lab 2D (log compaction) on the simulator. Each peer's service snapshots about every
 * SNAPSHOT_INTERVAL applied entries (snapshotEvery); the log a peer keeps must stay under the
 * lab's MAXLOGSIZE. A follower that was away while the leader compacted past it must catch up
 * through InstallSnapshot: the tests check that it skipped the compacted entries (it never applied
 * them one by one) yet ends with the same state and log as everyone else.
 */
import { test } from 'node:test';
import { ELECTION_TIMEOUT_MS, forSeeds, labSeeds, MAX_LOG_SIZE, SNAPSHOT_INTERVAL, type Lab } from './lab-harness.js';

const SEEDS = labSeeds([1, 2, 3, 4, 5]);

interface SnapOptions {
  readonly disconnect: boolean;
  readonly crash: boolean;
}

/**
 * The lab's snapcommon: 30 rounds; in each, a victim (a follower, or every third round the leader)
 * is disconnected or crashed, the cluster moves on by 5-14 commands (enough for a snapshot), the
 * log size is checked, and the victim comes back and must catch up.
 * Returns how many rounds the victim came back behind every other peer's snapshot.
 */
function snapcommon(lab: Lab, { disconnect, crash }: SnapOptions): number {
  const servers = 3;
  let installs = 0;
  lab.one(lab.cmd(), servers, true);
  let leader1 = lab.checkOneLeader();

  for (let i = 0; i < 30; i++) {
    let victim = (leader1 + 1) % servers;
    let sender = leader1;
    if (i % 3 === 1) {
      sender = (leader1 + 1) % servers;
      victim = leader1;
    }
    if (disconnect) {
      lab.disconnect(victim);
      lab.one(lab.cmd(), servers - 1, true);
    }
    if (crash) {
      lab.crash(victim);
      lab.one(lab.cmd(), servers - 1, true);
    }

    // Perhaps enough to get a snapshot.
    const nn = SNAPSHOT_INTERVAL / 2 + lab.randInt(SNAPSHOT_INTERVAL);
    for (let k = 0; k < nn; k++) lab.propose(sender, lab.cmd());

    // Without faults, make sure all followers caught up, so no InstallSnapshot is needed.
    const last = lab.one(lab.cmd(), disconnect || crash ? servers - 1 : servers, true);
    lab.check(lab.logSize() < MAX_LOG_SIZE, `log size too large: ${lab.logSize()} bytes (limit ${MAX_LOG_SIZE})`);

    if (disconnect || crash) {
      // The victim comes back. Once every peer has compacted past the end of the victim's log,
      // no one holds the entries it lacks: only InstallSnapshot can bring it up to date.
      if (crash) lab.restart(victim);
      const end = lab.sim.status(victim).lastLogIndex;
      let minSnap = Infinity;
      for (let p = 0; p < servers; p++) if (p !== victim) minSnap = Math.min(minSnap, lab.sim.status(p).snapshotIndex);
      const installsBefore = lab.installed.length;
      lab.connect(victim);
      const after = lab.one(lab.cmd(), servers, true);
      lab.check(after > last, `index ${after} after reconnecting is not past ${last}`);
      lab.check(lab.nCommitted(after).count === servers, `victim ${victim} did not catch up to ${after}`);
      const got = lab.installed.slice(installsBefore).filter((x) => x.peer === victim);
      if (minSnap > end) {
        lab.check(got.length > 0, `victim ${victim}'s log ended at ${end}, every other peer had compacted past it (to ${minSnap} or more), yet it caught up without InstallSnapshot`);
        lab.check(got.some((x) => x.index >= minSnap), () => `victim ${victim} installed snapshots at ${got.map((x) => x.index).join(',')}, none covering ${minSnap}`);
        const replayed = [...lab.sim.appliedLogs[victim]!.keys()].filter((k) => k > end && k <= minSnap);
        lab.check(replayed.length === 0, () => `victim ${victim} applied entries ${replayed.join(',')} that no peer held any more`);
        installs++;
      }
      leader1 = lab.checkOneLeader();
    }
  }
  return installs;
}

test('2D snapshots basic: every peer snapshots, logs stay small, all agree', () => {
  forSeeds(SEEDS, { servers: 3, snapshotEvery: SNAPSHOT_INTERVAL }, (lab) => {
    snapcommon(lab, { disconnect: false, crash: false });
    const last = lab.one(lab.cmd(), 3, true);
    for (let p = 0; p < 3; p++) {
      const st = lab.sim.status(p);
      lab.check(st.snapshotIndex > last - 2 * SNAPSHOT_INTERVAL, `peer ${p} last snapshotted at ${st.snapshotIndex}, long before ${last}`);
      lab.check(st.lastLogIndex - st.snapshotIndex <= 2 * SNAPSHOT_INTERVAL, `peer ${p} keeps ${st.lastLogIndex - st.snapshotIndex} entries after its snapshot`);
    }
    for (let i = 1; i <= last; i++) lab.check(lab.nCommitted(i).count === 3, `index ${i} not on all 3 peers`);
  });
});

test('2D install snapshots (disconnect): a follower behind the leader catches up through InstallSnapshot', () => {
  forSeeds(SEEDS, { servers: 3, snapshotEvery: SNAPSHOT_INTERVAL }, (lab) => {
    const installs = snapcommon(lab, { disconnect: true, crash: false });
    lab.check(installs >= 10, `only ${installs} of 30 rounds left the victim behind every other peer's snapshot`);
  });
});

test('2D install snapshots (disconnect + unreliable)', () => {
  forSeeds(SEEDS, { servers: 3, snapshotEvery: SNAPSHOT_INTERVAL, unreliable: true }, (lab) => {
    const installs = snapcommon(lab, { disconnect: true, crash: false });
    lab.check(installs >= 10, `only ${installs} of 30 rounds left the victim behind every other peer's snapshot`);
  });
});

test('2D install snapshots (crash): a restarted follower catches up through InstallSnapshot', () => {
  forSeeds(SEEDS, { servers: 3, snapshotEvery: SNAPSHOT_INTERVAL }, (lab) => {
    const installs = snapcommon(lab, { disconnect: false, crash: true });
    lab.check(installs >= 10, `only ${installs} of 30 rounds left the victim behind every other peer's snapshot`);
  });
});

test('2D install snapshots (unreliable + crash)', () => {
  forSeeds(SEEDS, { servers: 3, snapshotEvery: SNAPSHOT_INTERVAL, unreliable: true }, (lab) => {
    const installs = snapcommon(lab, { disconnect: false, crash: true });
    lab.check(installs >= 10, `only ${installs} of 30 rounds left the victim behind every other peer's snapshot`);
  });
});

test('2D crash and restart all servers: snapshots persist and the log continues after them', () => {
  forSeeds(SEEDS, { servers: 3, snapshotEvery: SNAPSHOT_INTERVAL }, (lab) => {
    lab.one(lab.cmd(), 3, true);
    let restoredFromSnapshot = 0;
    for (let i = 0; i < 5; i++) {
      // Perhaps enough to get a snapshot.
      const nn = SNAPSHOT_INTERVAL / 2 + lab.randInt(SNAPSHOT_INTERVAL);
      for (let k = 0; k < nn; k++) lab.one(lab.cmd(), 3, true);
      const index1 = lab.one(lab.cmd(), 3, true);
      const snaps = [0, 1, 2].map((p) => lab.sim.status(p).snapshotIndex);

      for (let p = 0; p < 3; p++) lab.crash(p);
      for (let p = 0; p < 3; p++) {
        lab.restart(p);
        lab.connect(p);
      }
      for (let p = 0; p < 3; p++) {
        const st = lab.sim.status(p);
        // A snapshot write may still have been in flight at the crash, never an older one.
        lab.check(st.snapshotIndex <= snaps[p]!, `peer ${p} restarted with snapshot ${st.snapshotIndex}, above the ${snaps[p]} it had`);
        lab.check(st.lastApplied === st.snapshotIndex, `peer ${p} restarted with lastApplied ${st.lastApplied}, snapshot ${st.snapshotIndex}`);
        if (st.snapshotIndex > 0) restoredFromSnapshot++;
      }
      const index2 = lab.one(lab.cmd(), 3, true);
      lab.check(index2 >= index1 + 1, `index decreased from ${index1} to ${index2}`);
    }
    lab.check(restoredFromSnapshot >= 9, `only ${restoredFromSnapshot} of 15 restarts found a snapshot on disk`);
  });
});

test('2D snapshot init: restarting from a snapshot, twice, keeps the log going', () => {
  forSeeds(SEEDS, { servers: 3, snapshotEvery: SNAPSHOT_INTERVAL }, (lab) => {
    lab.one(lab.cmd(), 3, true);
    // Enough ops to make a snapshot.
    let last = 0;
    for (let i = 0; i < SNAPSHOT_INTERVAL + 1; i++) last = lab.one(lab.cmd(), 3, false);
    for (let round = 0; round < 2; round++) {
      for (let p = 0; p < 3; p++) lab.crash(p);
      for (let p = 0; p < 3; p++) {
        lab.restart(p);
        lab.connect(p);
      }
      lab.check(
        [0, 1, 2].every((p) => lab.sim.status(p).snapshotIndex > 0),
        () => `a peer restarted without a snapshot: ${[0, 1, 2].map((p) => lab.sim.status(p).snapshotIndex).join(',')}`,
      );
      // A single op, to get something written back to persistent storage; then another, to
      // trigger a bug in how the restored snapshot and log fit together, if there is one.
      const x = lab.one(lab.cmd(), 3, false);
      lab.check(x > last, `index ${x} after restart is not past ${last}`);
      last = x;
    }
  });
});

test(
  '2D a lost InstallSnapshot does not depose the leader',
  () => {
    forSeeds(SEEDS, { servers: 3, snapshotEvery: SNAPSHOT_INTERVAL }, (lab) => {
      lab.one(lab.cmd(), 3, true);
      const leader = lab.checkOneLeader();
      const f = (leader + 1) % 3;
      // The follower is down while the leader commits and compacts 30 entries; it restarts with
      // its old term, so it has no reason of its own to start an election.
      lab.crash(f);
      for (let i = 0; i < 30; i++) lab.one(lab.cmd(), 2, true);
      const term = lab.getState(leader).term;
      lab.restart(f);
      lab.connect(f);
      // The follower rejects the leader's first AppendEntries; the InstallSnapshot sent in
      // answer is lost (the link is down for 5 ms).
      const rejects = lab.delivered('AppendReject');
      lab.check(lab.sim.runUntil(() => lab.delivered('AppendReject') > rejects, 1000), 'the follower never rejected an AppendEntries');
      lab.sim.net.setLink(leader, f, false);
      lab.sleep(5);
      lab.sim.net.setLink(leader, f, true);
      lab.sleep(ELECTION_TIMEOUT_MS);
      lab.check(lab.getState(leader).isLeader && lab.getState(leader).term === term, `leader ${leader} of term ${term} was deposed: ${lab.terms()}`);
      lab.check(lab.sim.status(f).lastApplied >= lab.sim.status(leader).snapshotIndex, `follower ${f} did not catch up`);
    });
  },
);
