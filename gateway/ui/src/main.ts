// The fleetgate dashboard: a single page served at /ui/, routed by the URL's hash
// (#/nodes), so the gateway serves one index.html and needs no fallback route. It speaks
// only to the admin API, with the session cookie (login page) and a CSRF token.
import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, useSession, whenUnauthorized, type Session } from './api.ts';
import { DeploymentsPage } from './pages/deployments.ts';
import { KeysPage } from './pages/keys.ts';
import { LoginPage } from './pages/login.ts';
import { LogsPage } from './pages/logs.ts';
import { NodesPage } from './pages/nodes.ts';
import { OverviewPage } from './pages/overview.ts';
import { UsagePage } from './pages/usage.ts';
import { UsersPage } from './pages/users.ts';
import { AuditPage } from './pages/audit.ts';

const PAGES = {
  overview: { title: 'Overview', view: OverviewPage },
  nodes: { title: 'Nodes', view: NodesPage },
  deployments: { title: 'Deployments', view: DeploymentsPage },
  keys: { title: 'Keys', view: KeysPage },
  usage: { title: 'Usage', view: UsagePage },
  logs: { title: 'Logs', view: LogsPage },
  users: { title: 'Users', view: UsersPage },
  audit: { title: 'Audit log', view: AuditPage },
} as const;
type PageName = keyof typeof PAGES;

export interface Route {
  page: PageName;
  params: URLSearchParams;
}

function routeOf(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?');
  const page = (Object.hasOwn(PAGES, path) ? path : 'overview') as PageName;
  return { page, params: new URLSearchParams(query) };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => routeOf(location.hash));
  useEffect(() => {
    const changed = () => setRoute(routeOf(location.hash));
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return route;
}

function App() {
  // undefined: still asking whether the cookie holds a session.
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const route = useRoute();

  const signedIn = (s: Session | null) => {
    useSession(s);
    setSession(s);
  };

  useEffect(() => {
    whenUnauthorized(() => signedIn(null));
    api<Session>('GET', '/session').then(signedIn, (err: unknown) => {
      if (!(err instanceof ApiError) || err.status !== 401) console.error(err);
      signedIn(null);
    });
  }, []);

  if (session === undefined) return html`<p class="loading">Loading…</p>`;
  if (session === null) return html`<${LoginPage} onSession=${signedIn} />`;

  const logout = () => {
    api('DELETE', '/session').then(
      () => signedIn(null),
      () => signedIn(null),
    );
  };
  const Page = PAGES[route.page].view;
  return html`<div class="shell">
    <nav>
      <h1>fleetgate</h1>
      ${Object.entries(PAGES).map(
        ([name, p]) =>
          html`<a href="#/${name}" class=${route.page === name ? 'active' : ''}>${p.title}</a>`,
      )}
      <div class="who">
        <span>${session.user.username}</span> <small>${session.user.role}</small>
        <button class="link" id="logout" onClick=${logout}>Log out</button>
      </div>
    </nav>
    <main>
      <h2>${PAGES[route.page].title}</h2>
      <${Page} route=${route} canWrite=${session.user.role === 'admin'} />
    </main>
  </div>`;
}

const root = document.getElementById('app');
if (root) render(html`<${App} />`, root);
