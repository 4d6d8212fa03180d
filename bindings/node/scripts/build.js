#!/usr/bin/env node
'use strict';
// Builds the native addon with cargo and copies it to iris.node next to index.js.
//
//   node scripts/build.js            release build (what `npm install` runs)
//   node scripts/build.js --debug    debug build (what the test script runs)
//
// IRIS_NODE_SKIP_BUILD=1 skips the build when iris.node already exists (e.g. a prebuilt copy).

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const addon = path.join(root, 'iris.node');
const manifest = path.join(root, 'Cargo.toml');

if (process.env.IRIS_NODE_SKIP_BUILD && fs.existsSync(addon)) {
  console.log('iris: IRIS_NODE_SKIP_BUILD set, keeping the existing iris.node');
  process.exit(0);
}

const debug = process.argv.includes('--debug') || process.env.IRIS_NODE_PROFILE === 'debug';
const cargo = process.env.CARGO || 'cargo';
const args = ['build', '--manifest-path', manifest, '-p', 'iris-nodejs'];
if (!debug) args.push('--release');

try {
  execFileSync(cargo, args, { stdio: 'inherit' });
} catch (err) {
  console.error(`iris: building the native addon failed (${err.message}); a Rust toolchain is required`);
  process.exit(1);
}

const metadata = JSON.parse(execFileSync(cargo, ['metadata', '--format-version', '1', '--no-deps', '--manifest-path', manifest], {
  encoding: 'utf8',
  maxBuffer: 64 << 20,
}));
const libName = { darwin: 'libiris_nodejs.dylib', win32: 'iris_nodejs.dll' }[process.platform] || 'libiris_nodejs.so';
const built = path.join(metadata.target_directory, debug ? 'debug' : 'release', libName);

// Copy then rename, so a process that has the old addon loaded keeps a valid file.
const staging = `${addon}.${process.pid}.tmp`;
fs.copyFileSync(built, staging);
fs.renameSync(staging, addon);
console.log(`iris: built ${path.relative(process.cwd(), addon) || addon} (${debug ? 'debug' : 'release'})`);
