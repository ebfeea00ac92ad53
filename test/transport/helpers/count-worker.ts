/**
 * Worker for fault-table.test.ts: adds to shared counters in a tight loop, so
 * two of these racing on the same slots show that no increment is lost.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { MsgType } from '../../../src/core/types.js';
import { Counter, FaultTableView } from '../../../src/transport/fault-table.js';

interface Job {
  readonly buffer: SharedArrayBuffer;
  readonly peer: number;
  readonly rounds: number;
}

if (parentPort) {
  const job = workerData as Job;
  const view = new FaultTableView(job.buffer);
  for (let i = 0; i < job.rounds; i++) {
    view.countSend(job.peer, MsgType.AppendEntries, 100);
    view.countSend(job.peer, MsgType.AppendEntriesReply, 34);
    view.countSend(job.peer, MsgType.RequestVote, 26);
    // Every worker also hits peer 0's slot: the contended case.
    view.add(0, Counter.Dropped, 1);
  }
  parentPort.postMessage({ linkUp: view.isLinkUp(0, 1), done: true });
}
