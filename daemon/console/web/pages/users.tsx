import { useState } from 'preact/hooks';
import { del, get, post } from '../api.js';
import { ErrorBox, fmtTime, Notice, usePoll } from '../components/ui.js';
import type { Me, Role, UserRow } from '../types.js';

const ROLES: Role[] = ['viewer', 'operator', 'admin'];
const userPath = (name: string): string => `/api/users/${encodeURIComponent(name)}`;

/**
 * Local accounts (admin only; the device refuses the others): list, add, set a password, delete. A
 * role is changed with `vigilctl console role` (the API has no route for it yet), as the hint says.
 */
export function UsersPage({ me }: { me: Me }): preact.JSX.Element {
  const users = usePoll(() => get<{ users: UserRow[] }>('/api/users'), 0);
  const [done, setDone] = useState<string | null>(null);
  const list = users.data?.users ?? [];
  const changed = (what: string): void => {
    setDone(what);
    users.reload();
  };
  return (
    <section class="users">
      <h1>Users</h1>
      <ErrorBox error={users.error} />
      {done !== null && <Notice>{done}</Notice>}
      <table>
        <thead><tr><th>user</th><th>role</th><th>password</th><th>changed</th><th /></tr></thead>
        <tbody>{list.map((u) => <UserLine key={u.name} user={u} self={u.name === me.user} onChanged={changed} />)}</tbody>
      </table>
      <AddUser onAdded={changed} />
    </section>
  );
}


function UserLine({ user, self, onChanged }: { user: UserRow; self: boolean; onChanged: (what: string) => void }): preact.JSX.Element {
  const { name } = user;
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const run = (what: string, call: () => Promise<unknown>): void => {
    setError(null);
    call().then(() => onChanged(what), setError);
  };
  return (
    <tr data-user={name}>
      <td>{name}{self ? ' (you)' : ''}</td>
      <td title={`vigilctl console role ${name} --role ROLE changes it`}>{user.role}</td>
      <td>
        <form class="inline" onSubmit={(e) => {
          e.preventDefault();
          run(`password of ${name} changed`, () => post(`${userPath(name)}/password`, { password }).then(() => setPassword('')));
        }}>
          <input type="password" name="password" autocomplete="new-password" placeholder="new password" value={password}
            onInput={(e) => setPassword(e.currentTarget.value)} />
          <button type="submit" class="secondary" disabled={password === ''}>Set</button>
        </form>
      </td>
      <td class="hint">{fmtTime(Date.parse(user.updated_at))}</td>
      <td>
        <button type="button" class="danger" onClick={() => {
          if (window.confirm(`Delete user ${name}?`)) run(`${name} deleted`, () => del(userPath(name)));
        }}>Delete</button>
        <ErrorBox error={error} />
      </td>
    </tr>
  );
}

function AddUser({ onAdded }: { onAdded: (what: string) => void }): preact.JSX.Element {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [error, setError] = useState<unknown>(null);
  return (
    <form class="card form add-user" onSubmit={(e) => {
      e.preventDefault();
      setError(null);
      post('/api/users', { user, password, role }).then(() => {
        onAdded(`${user} added as ${role}`);
        setUser('');
        setPassword('');
      }, setError);
    }}>
      <h2>Add a user</h2>
      <label>User <input name="user" required value={user} onInput={(e) => setUser(e.currentTarget.value)} /></label>
      <label>Password <input name="password" type="password" autocomplete="new-password" required value={password}
        onInput={(e) => setPassword(e.currentTarget.value)} /></label>
      <label>Role <select name="role" value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
        {ROLES.map((r) => <option value={r}>{r}</option>)}
      </select></label>
      <div class="actions"><button type="submit">Add</button></div>
      <ErrorBox error={error} />
    </form>
  );
}
