/**
 * The keys that occur more than once in one object of a JSON text, with their paths (`a.b`). JSON.parse
 * keeps only the last of them, so a log line that repeats a key loses a value once parsed; this reads
 * the raw text instead. Throws on text that is not JSON.
 */
export function duplicateKeys(text: string): string[] {
  let i = 0;
  const dups: string[] = [];
  const ws = (): void => { while (i < text.length && ' \t\n\r'.includes(text[i] ?? '')) i++; };
  const fail = (what: string): never => { throw new Error(`not JSON at ${i}: ${what}`); };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (text[i] !== '"') fail('unterminated string');
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (path: string): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const seen = new Set<string>();
      ws();
      if (text[i] === '}') { i++; return; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const key = str();
        const at = path === '' ? key : `${path}.${key}`;
        if (seen.has(key)) dups.push(at);
        seen.add(key);
        ws();
        if (text[i] !== ':') fail('expected ":"');
        i++;
        value(at);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return; }
        fail('expected "," or "}"');
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') { i++; return; }
      for (let n = 0; ; n++) {
        value(`${path}[${n}]`);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return; }
        fail('expected "," or "]"');
      }
    } else if (c === '"') {
      str();
    } else {
      const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 64));
      if (!m) fail('unexpected character');
      i += m?.[0].length ?? 0;
    }
  };
  value('');
  ws();
  if (i !== text.length) fail('trailing text');
  return dups;
}
