import type { Database } from 'better-sqlite3';

/**
 * A transaction that takes the write lock at BEGIN (BEGIN IMMEDIATE) rather than at its first
 * write. Two connections write this database (the main thread's and the store writer's thread,
 * store-writer-worker.ts). A deferred transaction that reads first and then writes, after the other
 * connection committed, cannot upgrade its stale snapshot: SQLite answers SQLITE_BUSY ("database is
 * locked") at once, without waiting out busy_timeout. Taking the lock first makes it wait instead.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- better-sqlite3's own constraint on transaction functions
export function writeTransaction<F extends (...args: any[]) => unknown>(db: Database, fn: F): (...args: Parameters<F>) => ReturnType<F> {
  const tx = db.transaction(fn);
  return (...args: Parameters<F>) => tx.immediate(...(args as unknown as Parameters<typeof tx.immediate>));
}
