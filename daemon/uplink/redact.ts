/** The broker URL as it may appear in logs: any user and password replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username) u.username = 'redacted';
    if (u.password) u.password = 'redacted';
    return u.toString();
  } catch {
    // Not parseable, so we cannot tell where credentials would be: show only the scheme.
    const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0];
    return scheme ? `${scheme}[unparseable]` : '[unparseable]';
  }
}
