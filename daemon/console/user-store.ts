import { chown, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../manage/atomic-write.js';
import { decoyHash, hashPassword, passwordProblem, verifyPassword } from './passwords.js';

/** The console's accounts, in the state directory beside vigil.db (mode 0600, owned by the daemon's user). */
export const USERS_FILE = 'console-users.json';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export const roleSchema = z.enum(ROLES);
export type Role = z.infer<typeof roleSchema>;

/** Short enough for `console:<name>` to fit the audit record's 64-character operator field. */
export const userNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,31}$/,
  'expected 1-32 letters, digits, ".", "_", "@" or "-", starting with a letter or digit');

const hashSchema = z.strictObject({
  algo: z.literal('scrypt'), n: z.number().int().min(1024).max(2 ** 20), r: z.number().int().min(1).max(32),
  p: z.number().int().min(1).max(16), salt: z.string().min(8).max(128), hash: z.string().min(16).max(256),
});
const userSchema = z.strictObject({
  name: userNameSchema, role: roleSchema, password: hashSchema,
  created_at: z.string(), updated_at: z.string(),
});
const fileSchema = z.strictObject({ version: z.literal(1), users: z.array(userSchema).max(1000) });
type UsersFile = z.infer<typeof fileSchema>;
export type StoredUser = z.infer<typeof userSchema>;
export interface UserInfo { name: string; role: Role; created_at: string; updated_at: string }

export class UserError extends Error {
  constructor(message: string, readonly code: 'invalid' | 'exists' | 'not_found' | 'last_admin') {
    super(message);
    this.name = 'UserError';
  }
}

const LOCK_WAIT_MS = 3000;
const LOCK_STALE_MS = 10_000;

/**
 * Local console accounts in one small JSON file, read by the daemon and written by both the daemon
 * (the admin's Users page) and `vigilctl console` (with the daemon running or not). Each write is
 * atomic (temporary file, fsync, rename) under a lock file, and re-reads the file first, so two
 * writers never lose each other's change. The daemon notices a change by the file's mtime and size,
 * so a user deleted or demoted by vigilctl loses their access at their next request.
 */
export class UserStore {
  readonly file: string;
  private cache: { users: Map<string, StoredUser>; stamp: string } | null = null;

  constructor(readonly stateDir: string) {
    this.file = path.join(stateDir, USERS_FILE);
  }

  /** The file's users as of now; a missing file is no users, a malformed one an error naming it. */
  private current(): Map<string, StoredUser> {
    const stamp = fileStamp(this.file);
    if (this.cache?.stamp === stamp) return this.cache.users;
    const users = new Map<string, StoredUser>();
    if (stamp !== 'absent') {
      // Small (a few hundred bytes per user) and read only when it changed.
      for (const u of parseFile(readFileSync(this.file, 'utf8'), this.file).users) users.set(u.name, u);
    }
    this.cache = { users, stamp };
    return users;
  }

  get(name: string): StoredUser | undefined {
    return this.current().get(name);
  }

  list(): UserInfo[] {
    return [...this.current().values()].map(({ name, role, created_at: c, updated_at: u }) => ({ name, role, created_at: c, updated_at: u }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The user and role when the password is theirs; null otherwise (unknown users cost the same time). */
  async authenticate(name: string, password: string): Promise<{ name: string; role: Role } | null> {
    const user = userNameSchema.safeParse(name).success ? this.get(name) : undefined;
    const ok = await verifyPassword(password, user?.password ?? await decoyHash());
    return ok && user ? { name: user.name, role: user.role } : null;
  }

  async add(name: string, role: Role, password: string): Promise<UserInfo> {
    checkName(name);
    checkPassword(password);
    const hash = await hashPassword(password);
    return this.change((file) => {
      if (file.users.some((u) => u.name === name)) throw new UserError(`console user "${name}" exists already (vigilctl console passwd to change the password)`, 'exists');
      const now = new Date().toISOString();
      const user: StoredUser = { name, role, password: hash, created_at: now, updated_at: now };
      file.users.push(user);
      return info(user);
    });
  }

  async setPassword(name: string, password: string): Promise<UserInfo> {
    checkPassword(password);
    const hash = await hashPassword(password);
    return this.change((file) => {
      const user = find(file, name);
      user.password = hash;
      user.updated_at = new Date().toISOString();
      return info(user);
    });
  }

  async setRole(name: string, role: Role): Promise<UserInfo> {
    return this.change((file) => {
      const user = find(file, name);
      if (user.role === 'admin' && role !== 'admin') lastAdminGuard(file, name);
      user.role = role;
      user.updated_at = new Date().toISOString();
      return info(user);
    });
  }

  /** Removes a user; the last admin cannot be removed from the console (`force` is vigilctl's, on the device itself). */
  async remove(name: string, force = false): Promise<void> {
    await this.change((file) => {
      const user = find(file, name);
      if (user.role === 'admin' && !force) lastAdminGuard(file, name);
      file.users = file.users.filter((u) => u.name !== name);
    });
  }

  /** Read, change and write the file under the lock; the daemon's user keeps owning it when root writes it. */
  private async change<T>(fn: (file: UsersFile) => T): Promise<T> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o750 });
    const release = await lock(`${this.file}.lock`);
    try {
      const text = await readFile(this.file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw err;
      });
      const file: UsersFile = text === null ? { version: 1, users: [] } : parseFile(text, this.file);
      const result = fn(file);
      const created = text === null;
      if (created) await createPrivate(this.file);
      await writeFileAtomic(this.file, `${JSON.stringify(file, null, 2)}\n`);
      if (created) await ownLikeDir(this.file, this.stateDir);
      this.cache = null;
      return result;
    } finally {
      await release();
    }
  }
}

function info(u: StoredUser): UserInfo {
  return { name: u.name, role: u.role, created_at: u.created_at, updated_at: u.updated_at };
}

function find(file: UsersFile, name: string): StoredUser {
  const user = file.users.find((u) => u.name === name);
  if (!user) throw new UserError(`no console user "${name}"`, 'not_found');
  return user;
}

function lastAdminGuard(file: UsersFile, name: string): void {
  if (!file.users.some((u) => u.role === 'admin' && u.name !== name)) {
    throw new UserError(`"${name}" is the last admin: add another admin first (or use vigilctl console deluser --force on the device)`, 'last_admin');
  }
}

function checkName(name: string): void {
  const r = userNameSchema.safeParse(name);
  if (!r.success) throw new UserError(`user name "${name.slice(0, 40)}": ${r.error.issues[0]?.message ?? 'invalid'}`, 'invalid');
}

function checkPassword(password: string): void {
  const problem = passwordProblem(password);
  if (problem !== null) throw new UserError(problem, 'invalid');
}

function parseFile(text: string, file: string): UsersFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  const r = fileSchema.safeParse(raw);
  if (!r.success) throw new Error(`${file}: ${r.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

function fileStamp(file: string): string {
  try {
    const s = statSync(file);
    return `${s.mtimeMs}:${s.size}:${s.ino}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
}


/** Creates the file empty with mode 0600 first: writeFileAtomic keeps an existing file's mode. */
async function createPrivate(file: string): Promise<void> {
  const h = await open(file, 'wx', 0o600).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EEXIST') return null;
    throw err;
  });
  await h?.close();
}

/** Root running vigilctl must leave the file to the daemon's user (the state directory's owner), or the daemon cannot read it. */
async function ownLikeDir(file: string, dir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const d = await stat(dir);
  await chown(file, d.uid, d.gid);
}

/** An exclusive lock file; one older than LOCK_STALE_MS is a crashed writer's and taken over. */
async function lock(file: string): Promise<() => Promise<void>> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const h = await open(file, 'wx', 0o600);
      await h.close();
      return () => unlink(file).catch(() => undefined);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(file).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > LOCK_STALE_MS) {
        await unlink(file).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${file} is held by another writer (vigilctl console or the daemon); try again`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
