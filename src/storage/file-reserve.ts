/**
 * FileReserve: keeps zero-filled, allocated space past the end of LMDB's data file, so that a
 * durable commit writes into blocks the file system has already allocated.
 *
 * Why: LMDB without a write map grows data.mdb by writing pages past its end. On ext4 a commit
 * that extended the file must then journal the new size and block allocation before fdatasync()
 * returns; one that wrote only into allocated blocks need not. Measured on this VM (3 LMDB
 * environments committing 6 KB durably at once, /tmp/s19/grow.mjs in session 19): p50 1.0 ms
 * per commit while the file grows, 0.5-0.7 ms into zero-filled space. ftruncate() (a sparse
 * file) and fallocate() (unwritten extents) did not help: both still allocate or convert at
 * write time. This is what etcd's WAL does with its preallocated segment files and bbolt with
 * its growth in chunks.
 *
 * Why it is safe: zeros are written only at or past the file's current end, and only while the
 * LMDB write lock is held (at open, in a synchronous transaction; later, in an asynchronous
 * transaction's callback, which lmdb-js runs on this thread while its writer waits). Every page
 * LMDB has written lies below the end; the pages of the transaction in progress are written at
 * its commit, after the zeros, so a zero never lands on a page LMDB wrote.
 *
 * The policy (how far ahead, when to top up) is the pure function planReserve below; the class
 * does the I/O.
 */
import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';
import type { RootDatabase } from 'lmdb';

export interface ReservePolicy {
  /** Bytes kept allocated past LMDB's last page, after a top-up. */
  readonly ahead: number;
  /** A top-up is due when fewer bytes than this remain past LMDB's last page. */
  readonly lowWater: number;
  /**
   * A top-up adds this many bytes, or twice what the store issued since its last look if that
   * is more (so the reserve keeps pace with large writes), at most maxStep.
   */
  readonly step: number;
  readonly maxStep: number;
}

/**
 * 16 MiB ahead, topped up in small steps once less than 8 MiB remain. A top-up runs inside a
 * commit and costs it about 2 ms per MiB of zeros written plus their flush, so the steps are
 * small and frequent: with 2 MiB steps each such commit took 10-13 ms (on every peer, once per
 * 0.6 s of 64-client puts, measured by timing each write), a stall every round behind it
 * waited out; 64 KiB adds a fraction of a millisecond to one commit in a few. Each commit the
 * reserve spares the file's growth saves about 0.4 ms.
 */
export const DEFAULT_RESERVE: ReservePolicy = { ahead: 16 * 1024 * 1024, lowWater: 8 * 1024 * 1024, step: 64 * 1024, maxStep: 4 * 1024 * 1024 };

/**
 * The store looks whether a top-up is due every this many writes, or sooner once it has issued
 * half a step of bytes since the last look (a look costs about 10 us: LMDB's env info).
 */
export const RESERVE_CHECK_EVERY = 16;

const ZEROS = new Uint8Array(256 * 1024);

/**
 * The byte range [from, to) to zero-fill, or null when enough is reserved. `fileSize` is the
 * data file's size, `usedEnd` the end of LMDB's last used page; `step` caps the range.
 */
export function planReserve(fileSize: number, usedEnd: number, policy: ReservePolicy, step: number = policy.step): { from: number; to: number } | null {
  if (fileSize - usedEnd >= policy.lowWater) return null;
  const to = Math.min(usedEnd + policy.ahead, fileSize + step);
  return to > fileSize ? { from: fileSize, to } : null;
}

export class FileReserve {
  private fd: number | null;
  /** A top-up has been issued and its callback has not run yet. */
  private pending = false;
  private writes = 0;
  private bytesAtLook = 0;

  private constructor(
    private readonly root: RootDatabase,
    fd: number,
    private readonly policy: ReservePolicy,
  ) {
    this.fd = fd;
  }

  /**
   * Opens the data file and fills the whole reserve at once, in a synchronous transaction (it
   * runs at open, before anything is served). Returns null, reserving nothing, if the file
   * cannot be opened or written (a full disk, say): the reserve only saves time, and LMDB
   * itself reports a disk it cannot write.
   */
  static open(root: RootDatabase, dataFile: string, policy: ReservePolicy = DEFAULT_RESERVE): FileReserve | null {
    let fd: number;
    try {
      fd = openSync(dataFile, 'r+');
    } catch {
      return null;
    }
    const r = new FileReserve(root, fd, policy);
    try {
      root.transactionSync(() => r.fill(policy.ahead));
    } catch (err) {
      r.close();
      throw err;
    }
    return r.fd === null ? null : r;
  }

  /**
   * Called by the store as it issues a write, in the same event-loop turn, so a top-up joins the
   * write's LMDB transaction (one commit, one fsync) rather than costing one of its own.
   * `issuedBytes` is the running total of bytes the store has issued, a hint of LMDB's growth.
   */
  onWrite(issuedBytes: number): void {
    if (this.fd === null || this.pending) return;
    const grown = issuedBytes - this.bytesAtLook;
    if (++this.writes < RESERVE_CHECK_EVERY && grown < this.policy.step / 2) return;
    this.writes = 0;
    this.bytesAtLook = issuedBytes;
    const size = this.fileSize();
    if (size === null || planReserve(size, this.usedEnd(), this.policy) === null) return;
    // Twice what was issued since the last look: a reserve that large writes drained catches up.
    const step = Math.min(this.policy.maxStep, Math.max(this.policy.step, 2 * grown));
    this.pending = true;
    this.root
      .transaction(() => {
        this.pending = false;
        this.fill(step);
      })
      .catch(noop); // the write issued with it reports any failure of the transaction
  }

  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      closeSync(fd);
    } catch {
      // nothing was left to flush through this descriptor: every fill was synced by its commit
    }
  }

  /**
   * Zero-fills as planned, with the write lock held. It plans again rather than trusting
   * onWrite's look: writes committed between the two may have moved the file's end, and only
   * what is read under the lock is safe to write past. Any failure ends the reserve for good.
   */
  private fill(step: number): void {
    const fd = this.fd;
    if (fd === null) return;
    try {
      const size = fstatSync(fd).size;
      const plan = planReserve(size, this.usedEnd(), this.policy, step);
      if (plan === null) return;
      for (let at = plan.from; at < plan.to; ) {
        at += writeSync(fd, ZEROS, 0, Math.min(ZEROS.length, plan.to - at), at);
      }
    } catch {
      // A zero region left half written is harmless: LMDB ignores the bytes past its last page.
      this.close();
    }
  }

  private fileSize(): number | null {
    try {
      return fstatSync(this.fd!).size;
    } catch {
      this.close();
      return null;
    }
  }

  /** The end of LMDB's last used page, as of the last commit. */
  private usedEnd(): number {
    const s = this.root.getStats() as { lastPageNumber: number; pageSize: number };
    return (s.lastPageNumber + 1) * s.pageSize;
  }
}

function noop(): void {}
