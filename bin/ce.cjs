#!/usr/bin/env node
// Entry of the `ce` command. CommonJS on purpose: fs and zlib share libuv's threadpool, whose size is
// read once when the pool starts, and an ES module entry has already started it (with 4 threads)
// before its first line runs. Here nothing has touched the pool yet.
'use strict';
process.env.UV_THREADPOOL_SIZE = process.env.UV_THREADPOOL_SIZE || '16';

const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

const root = join(__dirname, '..');
const built = join(root, 'dist/ce-server/cli/main.js');

(async () => {
  if (existsSync(built)) {
    await import(pathToFileURL(built).href);
  } else {
    // From the sources (development): TypeScript through tsx.
    const { register } = await import('tsx/esm/api');
    register();
    await import(pathToFileURL(join(root, 'ce-server/cli/main.ts')).href);
  }
})().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
