/**
 * Worker for endpoint-workers.test.ts: a peer whose Endpoint answers every
 * RequestVote with a granted RequestVoteReply carrying the same term.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { MsgType } from '../../../src/core/types.js';
import { Endpoint } from '../../../src/transport/endpoint.js';
import { FaultTableView } from '../../../src/transport/fault-table.js';

interface Job {
  readonly self: number;
  readonly buffer: SharedArrayBuffer;
  readonly ports: (MessagePort | undefined)[];
}

if (parentPort) {
  const job = workerData as Job;
  const ep: Endpoint = new Endpoint({
    self: job.self,
    faults: new FaultTableView(job.buffer),
    ports: job.ports,
    onMessage: (m) => {
      if (m.type !== MsgType.RequestVote) return;
      ep.send([{ type: MsgType.RequestVoteReply, term: m.term, from: job.self, to: m.from, voteGranted: true, preVote: false }]);
      ep.flush();
    },
  });
  parentPort.on('message', (cmd: string) => {
    if (cmd === 'close') {
      ep.close();
      parentPort?.close();
    }
  });
  parentPort.postMessage('ready');
}
