/**
 * Replaces the user information of every URI in `text` with `***@`. Greedy up to the last `@` before
 * the path, so that a password with a raw `@` is hidden whole.
 */
export function redactUri(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s"']*@/gi, '$1***@');
}
