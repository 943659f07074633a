import { useEffect, useState } from 'preact/hooks';

/**
 * Hash routes (`#/events/<id>`): the console is served as static files from one path, so the
 * server needs no route per page and a bookmark still opens the right one.
 */
export interface Route {
  page: string;
  args: string[];
  /** `#/events?stream=door`: a page's filters, so that a link can open it filtered. */
  query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const [pathPart = '', queryPart = ''] = hash.replace(/^#\/?/, '').split('?', 2);
  const parts = pathPart.split('/').filter((p) => p !== '').map((p) => decodeURIComponent(p));
  return { page: parts[0] ?? 'streams', args: parts.slice(1), query: new URLSearchParams(queryPart) };
}

export const href = (page: string, ...args: string[]): string => `#/${[page, ...args].map(encodeURIComponent).join('/')}`;

export function navigate(page: string, ...args: string[]): void {
  window.location.hash = href(page, ...args);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const changed = (): void => setRoute(parseHash(window.location.hash));
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}
