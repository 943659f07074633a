/** zod issues as "path: message" lines, the way every config and manifest error reads. */
export function formatIssues(issues: ReadonlyArray<{ path: readonly PropertyKey[]; message: string }>): string[] {
  return issues.map((i) => {
    const p = i.path.reduce<string>((acc, k) => typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k), '') || '(root)';
    return `${p}: ${i.message}`;
  });
}
