/**
 * Which write failures are the storage itself failing (the disk or its filesystem), as opposed to
 * a bug or a bad row. The first kind is what degraded mode is for: the events are held in memory,
 * sent directly and written once the disk takes writes again. The second kind concerns one event
 * only and is reported as that event's error.
 */
export type StorageFault = 'readonly' | 'full' | 'io' | 'cantopen' | 'busy';

export interface ClassifiedFailure {
  fault: StorageFault;
  /** The SQLite extended code or errno name, e.g. SQLITE_READONLY_DBMOVED, EROFS. */
  code: string;
  message: string;
}

const BY_PREFIX: readonly [RegExp, StorageFault][] = [
  [/^SQLITE_READONLY/, 'readonly'],
  [/^EROFS$/, 'readonly'],
  [/^SQLITE_FULL$/, 'full'],
  [/^ENOSPC$|^EDQUOT$/, 'full'],
  [/^SQLITE_IOERR/, 'io'],
  [/^EIO$/, 'io'],
  [/^SQLITE_CANTOPEN/, 'cantopen'],
  [/^SQLITE_PERM$|^EACCES$|^EPERM$/, 'cantopen'],
  // Another connection holding the write lock past busy_timeout: nothing is wrong with the event.
  [/^SQLITE_BUSY/, 'busy'],
];

/** The fault behind `err`, or null when it is not a storage fault (a constraint, a bug). */
export function classifyWriteFailure(err: unknown): ClassifiedFailure | null {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err).code) : '';
  const inner = typeof err === 'object' && err !== null && 'message' in err ? (err).message : undefined;
  const message = typeof inner === 'string' ? inner : String(err);
  for (const [pattern, fault] of BY_PREFIX) {
    if (pattern.test(code)) return { fault, code, message };
  }
  return null;
}

/** The reason shown in status, doctor, the watchdog's text and the alarm: what failed and how. */
export function faultReason(f: ClassifiedFailure): string {
  const what: Record<StorageFault, string> = {
    readonly: 'the storage is read-only',
    full: 'the disk is full',
    io: 'the disk reports I/O errors',
    cantopen: 'the database cannot be opened',
    busy: 'the database stayed locked',
  };
  return `${what[f.fault]} (${f.code}: ${f.message})`;
}
