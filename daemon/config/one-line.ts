/**
 * A problem is one line of the error (and of the journal): control characters that came from the
 * file (a key with a newline, a tab in an id) are written as escapes, not as themselves.
 */
export function oneLine(problem: string): string {
  return problem.replace(/[\u0000-\u001f\u007f]/g, (c) => c === '\n' ? '\\n' : c === '\t' ? '\\t' : c === '\r' ? '\\r'
    : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
