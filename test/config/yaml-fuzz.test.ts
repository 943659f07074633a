import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { loadCheckedConfig } from '../../daemon/config/preflight.js';
import { parseConfigText } from '../../daemon/config/load.js';
import { ConfigError } from '../../daemon/errors.js';
import { tempDir } from '../helpers/shared.js';

/**
 * Random YAML-ish text through the loader the daemon uses: whatever it is, the answer is a config
 * or a ConfigError (exit 2) naming the file, within a bounded time; never another exception (exit
 * 1), a hang or a crash.
 */

const VALID = 'device: { id: box, site: yard }\nmqtt: { url: "mqtt://127.0.0.1:1" }\n';

/** Pieces that YAML gives meaning to, mixed with ones the schema knows, so the input gets past the parser often. */
const piece = fc.oneof(
  fc.constantFrom('[', ']', '{', '}', ', ', ': ', '- ', '? ', '\n', '\n  ', '\n    ', '&a ', '*a', '&b ', '*b', '!!str ', '!!map ', '|\n  ', '>-\n  ',
    '"', "'", '#', '---\n', '...\n', '%YAML 1.2\n', '<<: ', 'streams', 'rules', 'id', 'uri', 'test://x', 'classes', 'person', 'kind', 'presence',
    'storage', 'dir', 'control', 'socket', 'mqtt', 'url', '~', 'null', 'true', '1e400', '-0', '0x1F', '.nan', '\t', '\u00e9', '\uFEFF', '\0'),
  fc.string({ maxLength: 8 }),
);
const yamlish = fc.array(piece, { maxLength: 200 }).map((parts) => parts.join(''));

function expectConfigOrRefusal(run: () => unknown, source: string): void {
  const started = performance.now();
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    assert.equal(err.exitCode, 2);
    assert.ok(err.message.startsWith(`invalid configuration in ${source}:`), err.message);
    assert.ok(err.problems.length > 0 && err.problems.every((p) => p.length > 0 && !p.includes('\n')), JSON.stringify(err.problems));
  }
  assert.ok(performance.now() - started < 2000, `took ${(performance.now() - started).toFixed(0)} ms`);
}

test('random YAML-ish text is a config or a ConfigError, never another failure', () => {
  fc.assert(fc.property(yamlish, (text) => expectConfigOrRefusal(() => parseConfigText(text, 'fuzz.yaml'), 'fuzz.yaml')), { numRuns: 1500 });
  // The same after a valid head, so the schema and the references see the random part.
  fc.assert(fc.property(yamlish, (text) => expectConfigOrRefusal(() => parseConfigText(VALID + text, 'fuzz.yaml'), 'fuzz.yaml')), { numRuns: 1500 });
});

test('random nesting of flow and block collections, at any depth, is refused or accepted within the bounds', () => {
  const open = fc.constantFrom('[', '{a: ', '{? ', '[{a: ', '- ', '\n- ', '&x [', '*x, ');
  fc.assert(fc.property(fc.array(open, { minLength: 1, maxLength: 3000 }), fc.boolean(), (opens, close) => {
    const closers = opens.map((o) => o.includes('{') ? '}' : o.includes('[') ? ']' : '').reverse().join('');
    expectConfigOrRefusal(() => parseConfigText(`${VALID}streams: ${opens.join('')}x${close ? closers : ''}\n`, 'deep.yaml'), 'deep.yaml');
  }), { numRuns: 300 });
});

test('random bytes in a file through the daemon\'s whole load (read, parse, schema, files) are refused with exit 2', async (t) => {
  const dir = await tempDir(t, 'vigil-yaml-fuzz-');
  const file = path.join(dir, 'vigil.yaml');
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), fc.boolean(), async (bytes, withHead) => {
    await writeFile(file, withHead ? Buffer.concat([Buffer.from(VALID), bytes]) : bytes);
    try {
      await loadCheckedConfig(file);
    } catch (err) {
      assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
      assert.ok(err.message.startsWith(`invalid configuration in ${file}:`));
    }
  }), { numRuns: 300 });
});
