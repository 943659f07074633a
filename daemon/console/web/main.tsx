import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, onSessionLost, post, setCsrf } from './api.js';
import { ErrorBox } from './components/ui.js';
import { EditorPage } from './pages/editor.js';
import { EventsPage } from './pages/events.js';
import { HealthPage } from './pages/health.js';
import { LoginPage } from './pages/login.js';
import { StreamsPage } from './pages/streams.js';
import { UsersPage } from './pages/users.js';
import { href, useRoute } from './router.js';
import type { Me } from './types.js';

const PAGES = [
  { page: 'streams', title: 'Streams' },
  { page: 'events', title: 'Events' },
  { page: 'health', title: 'Health' },
  { page: 'users', title: 'Users', adminOnly: true },
] as const;

function App(): preact.JSX.Element {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const route = useRoute();

  useEffect(() => {
    onSessionLost(() => setMe(null));
    get<Me>('/api/me').then((m) => {
      setCsrf(m.csrf);
      setMe(m);
    }, (err: unknown) => {
      if (err instanceof ApiError && err.status === 401) setMe(null);
      else setError(err);
    });
  }, []);

  if (me === undefined) return <main class="page">{error === null ? <p>Loading…</p> : <ErrorBox error={error} />}</main>;
  if (me === null) {
    return <LoginPage onLogin={(m) => {
      setCsrf(m.csrf);
      setMe(m);
    }} />;
  }

  const logout = (): void => {
    post('/api/logout').then(() => setMe(null), (err: unknown) => setError(err));
  };
  const page = ((): preact.JSX.Element => {
    switch (route.page) {
      case 'events': return <EventsPage me={me} selected={route.args[0] ?? null} />;
      case 'editor': return <EditorPage me={me} stream={route.args[0] ?? ''} rule={route.args[1] ?? null} />;
      case 'health': return <HealthPage />;
      case 'users': return <UsersPage me={me} />;
      default: return <StreamsPage me={me} />;
    }
  })();
  return (
    <>
      <header class="top">
        <span class="brand">Vigil</span>
        <nav>
          {PAGES.filter((p) => !('adminOnly' in p) || me.role === 'admin').map((p) => (
            <a href={href(p.page)} class={route.page === p.page || (p.page === 'streams' && route.page === 'editor') ? 'active' : ''}>{p.title}</a>
          ))}
        </nav>
        <span class="who">{me.user} <span class="role">{me.role}</span> <button type="button" class="link" onClick={logout}>Log out</button></span>
      </header>
      <ErrorBox error={error} />
      <main class="page" data-page={route.page}>{page}</main>
    </>
  );
}

const root = document.getElementById('app');
if (root) render(<App />, root);
