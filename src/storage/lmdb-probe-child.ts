/**
 * Run as a child process by probeLmdbStores (lmdb-probe.ts): opens each LMDB environment named on
 * the command line read-only, one after another, and reads every record of every named database,
 * values included, so every page a peer can reach is touched once. A damaged file can make LMDB
 * touch memory past the end of the mapped file (SIGBUS) or follow a wild page number (SIGSEGV);
 * that kills this process, not the caller.
 *
 * Output, one JSON line each: { checking: path } before an environment is opened, then
 * { ok: true, path, databases, records, bytes } once it was read whole, or { error, path } (exit
 * 2) when LMDB refused it with an error. A crash leaves the damaged path as the last "checking".
 */
import { open } from 'lmdb';

function line(o: object): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

async function check(path: string): Promise<void> {
  line({ checking: path });
  const root = open({ path, readOnly: true, maxDbs: 256, keyEncoding: 'binary', encoding: 'binary' });
  let records = 0;
  let bytes = 0;
  const names: string[] = [];
  try {
    // The main database's keys name the named databases.
    for (const { key } of root.getRange({})) names.push((key as Buffer).toString('utf8'));
    for (const name of names) {
      const db = root.openDB({ name, keyEncoding: 'binary', encoding: 'binary' });
      for (const { value } of db.getRange({})) {
        records++;
        bytes += (value as Buffer).length;
      }
    }
  } catch (err) {
    line({ error: err instanceof Error ? err.message : String(err), path });
    process.exit(2);
  } finally {
    await root.close();
  }
  line({ ok: true, path, databases: names.length, records, bytes });
}

async function main(): Promise<void> {
  const paths = process.argv.slice(2);
  if (paths.length === 0) throw new Error('usage: lmdb-probe-child <environment directory>...');
  for (const p of paths) await check(p);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    line({ error: err instanceof Error ? err.message : String(err), path: null });
    process.exit(2);
  },
);
