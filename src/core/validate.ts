import { EntryKind, MsgType, type Message, type PeerId } from './types.js';

/**
 * Checks that an inbound message is well formed and addressed to this peer before the core
 * touches any state. Returns a description of the first problem found, or null.
 * A message can come from a buggy or foreign sender; it must never corrupt the core.
 */
export function validateMessage(m: unknown, self: PeerId, peers: number): string | null {
  if (typeof m !== 'object' || m === null) return 'message is not an object';
  const msg = m as Record<string, unknown>;
  if (!isCount(msg.term)) return `term ${String(msg.term)} is not a non-negative integer`;
  if (!isPeer(msg.from, peers)) return `sender ${String(msg.from)} is not a peer of this ${peers}-peer cluster`;
  if (msg.from === self) return 'message claims to come from this peer itself';
  if (msg.to !== self) return `message is addressed to peer ${String(msg.to)}, not ${self}`;
  switch (msg.type) {
    case MsgType.RequestVote:
      if (!isCount(msg.lastLogIndex) || !isCount(msg.lastLogTerm)) return 'RequestVote: bad lastLogIndex/lastLogTerm';
      if ((msg.lastLogTerm as number) > (msg.term as number)) return 'RequestVote: lastLogTerm above term';
      return typeof msg.preVote === 'boolean' ? null : 'RequestVote: preVote is not a boolean';
    case MsgType.RequestVoteReply:
      if (typeof msg.preVote !== 'boolean') return 'RequestVoteReply: preVote is not a boolean';
      return typeof msg.voteGranted === 'boolean' ? null : 'RequestVoteReply: voteGranted is not a boolean';
    case MsgType.AppendEntries:
      return validateAppend(msg);
    case MsgType.AppendEntriesReply:
      if (typeof msg.success !== 'boolean') return 'AppendEntriesReply: success is not a boolean';
      if (!isCount(msg.matchIndex) || !isCount(msg.conflictTerm) || !isCount(msg.conflictIndex) || !isCount(msg.round)) {
        return 'AppendEntriesReply: bad matchIndex/conflictTerm/conflictIndex/round';
      }
      return null;
    case MsgType.InstallSnapshot:
      if (!isCount(msg.lastIncludedIndex) || (msg.lastIncludedIndex as number) < 1) return 'InstallSnapshot: bad lastIncludedIndex';
      if (!isCount(msg.lastIncludedTerm) || (msg.lastIncludedTerm as number) < 1 || (msg.lastIncludedTerm as number) > (msg.term as number)) {
        return 'InstallSnapshot: bad lastIncludedTerm';
      }
      if (!(msg.data instanceof Uint8Array)) return 'InstallSnapshot: data is not a Uint8Array';
      if (msg.offset !== 0 || msg.total !== msg.data.length) return 'InstallSnapshot: the core takes whole snapshots only (offset 0, data.length === total)';
      return null;
    case MsgType.InstallSnapshotReply:
      return isCount(msg.matchIndex) ? null : 'InstallSnapshotReply: bad matchIndex';
    case MsgType.SnapshotChunkAck:
      return 'SnapshotChunkAck is for the driver, not the core';
    default:
      return `unknown message type ${String(msg.type)}`;
  }
}

function validateAppend(msg: Record<string, unknown>): string | null {
  if (!isCount(msg.prevLogIndex) || !isCount(msg.prevLogTerm)) return 'AppendEntries: bad prevLogIndex/prevLogTerm';
  if (!isCount(msg.leaderCommit)) return 'AppendEntries: bad leaderCommit';
  if (!isCount(msg.round)) return 'AppendEntries: bad round';
  if (msg.quiet !== undefined && typeof msg.quiet !== 'boolean') return 'AppendEntries: quiet is not a boolean';
  const term = msg.term as number;
  if ((msg.prevLogTerm as number) > term) return 'AppendEntries: prevLogTerm above term';
  if ((msg.prevLogIndex as number) === 0 && (msg.prevLogTerm as number) !== 0) return 'AppendEntries: prevLogTerm must be 0 at index 0';
  if (!Array.isArray(msg.entries)) return 'AppendEntries: entries is not an array';
  let expected = (msg.prevLogIndex as number) + 1;
  let lastTerm = msg.prevLogTerm as number;
  for (const e of msg.entries as unknown[]) {
    if (typeof e !== 'object' || e === null) return 'AppendEntries: an entry is not an object';
    const entry = e as Record<string, unknown>;
    if (entry.index !== expected) return `AppendEntries: entry index ${String(entry.index)}, expected ${expected}`;
    if (!isCount(entry.term) || (entry.term as number) < 1 || (entry.term as number) > term) {
      return `AppendEntries: entry ${expected} has term ${String(entry.term)} outside [1, ${term}]`;
    }
    if ((entry.term as number) < lastTerm) return `AppendEntries: entry ${expected} has a term below its predecessor's`;
    if (entry.kind !== EntryKind.Normal && entry.kind !== EntryKind.Noop) return `AppendEntries: entry ${expected} has unknown kind`;
    if (!(entry.data instanceof Uint8Array)) return `AppendEntries: entry ${expected} data is not a Uint8Array`;
    lastTerm = entry.term as number;
    expected++;
  }
  return null;
}

function isCount(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isPeer(v: unknown, peers: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < peers;
}

export function isMessage(m: unknown, self: PeerId, peers: number): m is Message {
  return validateMessage(m, self, peers) === null;
}
