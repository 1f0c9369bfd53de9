// index.d.ts is kept by hand: every runtime export must be declared there, and nothing declared may be missing.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import * as signer from '../src/index.js';

test('index.d.ts declares exactly the runtime exports of src/index.js', () => {
  const declarations = readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8');
  const declared = [...declarations.matchAll(/^export declare (?:function|const|class) (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual(declared.sort(), Object.keys(signer).sort());
});
