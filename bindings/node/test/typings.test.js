'use strict';
// index.d.ts is generated from the JSDoc in index.js (`npm run typings`) and committed: regenerate
// it and compare, then type-check a usage sample against it.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const pkg = path.resolve(__dirname, '..');
const tsc = path.join(pkg, 'node_modules', 'typescript', 'bin', 'tsc');

function runTsc(args) {
  try {
    return execFileSync(process.execPath, [tsc, ...args], { cwd: pkg, encoding: 'utf8' });
  } catch (err) {
    assert.fail(`tsc ${args.join(' ')} failed:\n${err.stdout}${err.stderr}`);
  }
}

describe('typings', () => {
  it('index.d.ts matches what the JSDoc generates', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'iris-typings-'));
    try {
      runTsc(['-p', 'tsconfig.json', '--outDir', out]);
      const generated = fs.readFileSync(path.join(out, 'index.d.ts'), 'utf8');
      const committed = fs.readFileSync(path.join(pkg, 'index.d.ts'), 'utf8');
      assert.equal(committed, generated, 'index.d.ts is stale: run `npm run typings` in bindings/node');
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('accepts the documented API from TypeScript', () => {
    runTsc(['--noEmit', '--strict', '--types', 'node', '--skipLibCheck', 'test/types/usage.ts']);
  });
});
