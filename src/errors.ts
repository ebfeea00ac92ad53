/**
 * The errors raftwork throws at its callers. Each says what was wrong and what to do; `code`
 * lets a program tell them apart without parsing messages.
 */
export class RaftworkError extends Error {
  override name = 'RaftworkError';
  /** `options.cause`: the lower-level error behind this one, kept for whoever debugs it. */
  constructor(readonly code: string, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** An option or argument is out of range or of the wrong type. */
export class InvalidArgumentError extends RaftworkError {
  override name = 'InvalidArgumentError';
  constructor(message: string) {
    super('EINVAL', message);
  }
}

/** The peer is crashed (or crashing): restart it first. */
export class PeerDownError extends RaftworkError {
  override name = 'PeerDownError';
  constructor(readonly peer: number, what: string) {
    super('EPEERDOWN', `${what}: peer ${peer} is down; call cluster.restart(${peer}) first`);
  }
}

/** The cluster (or store) was closed. */
export class ClosedError extends RaftworkError {
  override name = 'ClosedError';
  constructor(what: string) {
    super('ECLOSED', `${what}: the cluster is closed; start a new one`);
  }
}

/** The data directory holds something raftwork cannot use as it was asked to. */
export class DataDirError extends RaftworkError {
  override name = 'DataDirError';
  constructor(message: string, options?: ErrorOptions) {
    super('EDATADIR', message, options);
  }
}
