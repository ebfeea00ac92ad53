/**
 * The core is a pure state machine (DESIGN.md, principle 1): no timers, Promises, clocks,
 * Math.random, process or I/O, and no imports from outside src/core. This test reads every .ts
 * file under src/core and names the file and line of any breach.
 *
 * Comments are ignored (they may well say "never calls Math.random"); string literals are not,
 * so globalThis['setTimeout'] is still caught.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const FORBIDDEN: readonly [string, RegExp][] = [
  ['setTimeout', /\bsetTimeout\b/],
  ['setInterval', /\bsetInterval\b/],
  ['setImmediate', /\bsetImmediate\b/],
  ['queueMicrotask', /\bqueueMicrotask\b/],
  ['Promise', /\bPromise\b/],
  ['async', /\basync\b/],
  ['await', /\bawait\b/],
  ['Date', /\bDate\b/],
  ['performance', /\bperformance\b/],
  ['Math.random', /\bMath\s*\.\s*random\b/],
  ['process', /\bprocess\b/],
  ['require(', /\brequire\s*\(/],
];

export interface Breach {
  readonly file: string;
  readonly line: number;
  readonly what: string;
  readonly text: string;
}

/** Blanks out comments, keeping every newline so line numbers stay true. */
export function stripComments(src: string): string {
  let out = '';
  let i = 0;
  let quote: string | null = null;
  while (i < src.length) {
    const c = src[i]!;
    const next = src[i + 1];
    if (quote !== null) {
      out += c;
      if (c === '\\') {
        out += next ?? '';
        i += 2;
        continue;
      }
      if (c === quote) quote = null;
      i++;
    } else if (c === '/' && next === '/') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      i += 2;
      while (i < src.length && !(src[i] === '*' && src[i + 1] === '/')) {
        if (src[i] === '\n') out += '\n';
        i++;
      }
      i += 2;
    } else {
      if (c === "'" || c === '"' || c === '`') quote = c;
      out += c;
      i++;
    }
  }
  return out;
}

/** Every breach of purity in one file's text; `dir` is the folder holding it, `core` is src/core. */
export function scan(file: string, text: string, dir: string, core: string): Breach[] {
  const code = stripComments(text);
  const lines = code.split('\n');
  const breaches: Breach[] = [];
  const lineAt = (offset: number) => code.slice(0, offset).split('\n').length;
  lines.forEach((l, k) => {
    for (const [what, re] of FORBIDDEN) {
      if (re.test(l)) breaches.push({ file, line: k + 1, what, text: l.trim() });
    }
  });
  // import ... from 'x', export ... from 'x', import 'x', import('x')
  const specifiers = /\b(?:from|import)\s*\(?\s*(['"`])([^'"`]+)\1/g;
  for (let m = specifiers.exec(code); m !== null; m = specifiers.exec(code)) {
    const spec = m[2]!;
    const line = lineAt(m.index);
    const text = lines[line - 1]!.trim();
    if (spec.startsWith('node:')) breaches.push({ file, line, what: `import of ${spec}`, text });
    else if (!spec.startsWith('.')) breaches.push({ file, line, what: `import of package ${spec}`, text });
    else {
      const target = resolve(dir, spec);
      if (target !== core && !target.startsWith(core + sep)) breaches.push({ file, line, what: `import from outside src/core: ${spec}`, text });
    }
  }
  return breaches;
}

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'src', 'core'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (package.json next to src/core)');
    dir = up;
  }
  return dir;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

test('src/core is pure: no timers, Promises, clocks, randomness, process, or imports from outside', () => {
  const root = repoRoot();
  const core = join(root, 'src', 'core');
  const files = tsFiles(core);
  assert.ok(files.length >= 5, `found only ${files.length} .ts files under ${core}`);
  assert.ok(files.some((f) => f.endsWith(`${sep}raft.ts`)), 'raft.ts is not among the files scanned');
  const breaches = files.flatMap((f) => scan(relative(root, f), readFileSync(f, 'utf8'), dirname(f), core));
  assert.deepEqual(
    breaches.map((b) => `${b.file}:${b.line}: ${b.what}: ${b.text}`),
    [],
    'src/core must stay pure (DESIGN.md principle 1)',
  );
});

test('the purity scan catches each forbidden form, and ignores comments', () => {
  const core = resolve('/repo/src/core');
  const bad = [
    "import { readFileSync } from 'node:fs';",
    "import { x } from '../sim/simulator.js';",
    "export { y } from './../transport/codec.js';",
    "import lmdb from 'lmdb';",
    "const m = await import('./raft.js');",
    'setTimeout(() => {}, 1);',
    'const t = setInterval(f, 5);',
    'setImmediate(f);',
    'const p: Promise<void> = x;',
    'async function f() {}',
    'const now = Date.now();',
    'performance.now();',
    'const r = Math.random();',
    'if (process.env.X) {}',
    "const fs = require('fs');",
    "const s = globalThis['setTimeout'];",
  ];
  for (const line of bad) {
    const found = scan('x.ts', `// ok\n${line}\n`, core, core);
    assert.ok(found.length > 0, `not caught: ${line}`);
    assert.ok(found.every((b) => b.line === 2 && b.file === 'x.ts'), `wrong position for: ${line}`);
  }
  const fine = [
    "import { assert } from './assert.js';",
    "import type { Entry } from './types.js';",
    '// The core never calls Math.random or setTimeout, and owns no Promise.',
    '/* process, Date,\n   performance */ const x = 1;',
    'const promised = true; const asyncish = 1; const dated = 2;',
  ];
  for (const text of fine) assert.deepEqual(scan('x.ts', text, core, core), [], text);
});
