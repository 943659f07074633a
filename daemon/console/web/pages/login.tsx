import { useState } from 'preact/hooks';
import { ApiError, post } from '../api.js';
import { ErrorBox } from '../components/ui.js';
import type { Me } from '../types.js';

export function LoginPage({ onLogin }: { onLogin: (me: Me) => void }): preact.JSX.Element {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = (e: Event): void => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    post<Me>('/api/login', { user, password }).then(onLogin, (err: unknown) => {
      setBusy(false);
      // Throttled: say for how long, since the button would only be refused again.
      if (err instanceof ApiError && err.status === 429 && err.retryAfterS !== null) setError(`${err.message} (try again in ${err.retryAfterS} s)`);
      else setError(err);
    });
  };

  return (
    <main class="login">
      <form class="card login-card" onSubmit={submit}>
        <h1>Vigil</h1>
        <label>User <input name="user" autocomplete="username" required value={user} onInput={(e) => setUser(e.currentTarget.value)} /></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required value={password}
          onInput={(e) => setPassword(e.currentTarget.value)} /></label>
        <button type="submit" disabled={busy}>Log in</button>
        <ErrorBox error={error} />
      </form>
    </main>
  );
}
