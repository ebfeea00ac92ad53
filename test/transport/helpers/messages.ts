/** Message builders for transport tests. */
import {
  EntryKind,
  MsgType,
  type AppendEntries,
  type AppendEntriesReply,
  type Entry,
  type InstallSnapshot,
  type InstallSnapshotReply,
  type Message,
  type RequestVote,
  type RequestVoteReply,
} from '../../../src/core/types.js';

export function bytesOf(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

export function entries(prevLogIndex: number, count: number, size: number, term = 1): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    out.push({ index: prevLogIndex + 1 + i, term, kind: EntryKind.Normal, data: bytesOf(size, i) });
  }
  return out;
}

export function requestVote(from: number, to: number, term = 3): RequestVote {
  return { type: MsgType.RequestVote, term, from, to, lastLogIndex: 10, lastLogTerm: 2, preVote: false };
}

export function requestVoteReply(from: number, to: number, voteGranted = true): RequestVoteReply {
  return { type: MsgType.RequestVoteReply, term: 3, from, to, voteGranted, preVote: false };
}

export function appendEntries(from: number, to: number, es: Entry[] = [], prevLogIndex = 0): AppendEntries {
  return {
    type: MsgType.AppendEntries,
    term: 4,
    from,
    to,
    prevLogIndex,
    prevLogTerm: prevLogIndex === 0 ? 0 : 3,
    entries: es,
    leaderCommit: prevLogIndex,
    round: 7,
  };
}

export function appendEntriesReply(from: number, to: number, success = false): AppendEntriesReply {
  return {
    type: MsgType.AppendEntriesReply,
    term: 4,
    from,
    to,
    success,
    matchIndex: 17,
    conflictTerm: success ? 0 : 2,
    conflictIndex: success ? 0 : 9,
    round: 7,
  };
}

export function installSnapshot(from: number, to: number, data: Uint8Array): InstallSnapshot {
  return { type: MsgType.InstallSnapshot, term: 5, from, to, lastIncludedIndex: 1000, lastIncludedTerm: 4, offset: 0, total: data.length, data };
}

export function installSnapshotReply(from: number, to: number): InstallSnapshotReply {
  return { type: MsgType.InstallSnapshotReply, term: 5, from, to, matchIndex: 1000 };
}

/** One of each message type from `from` to `to`. */
export function oneOfEach(from: number, to: number): Message[] {
  return [
    requestVote(from, to),
    requestVoteReply(from, to, true),
    requestVoteReply(from, to, false),
    { ...requestVote(from, to), preVote: true },
    { ...requestVoteReply(from, to, true), preVote: true },
    appendEntries(from, to),
    appendEntries(from, to, entries(41, 3, 16), 41),
    appendEntriesReply(from, to, true),
    appendEntriesReply(from, to, false),
    installSnapshot(from, to, bytesOf(300)),
    { ...installSnapshot(from, to, bytesOf(100)), offset: 200, total: 300 },
    installSnapshotReply(from, to),
    { type: MsgType.SnapshotChunkAck, term: 5, from, to, index: 1000, offset: 300 },
  ];
}

/** A plain-data copy of a message, with Uint8Arrays as arrays, for deepStrictEqual across views. */
export function plain(m: Message): unknown {
  return JSON.parse(
    JSON.stringify(m, (_k, v: unknown) => (v instanceof Uint8Array ? Array.from(v) : v)),
  ) as unknown;
}
