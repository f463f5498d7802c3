// Drops what Node never loads from node_modules/ after `npm ci`: source maps and TypeScript
// (sources and declarations). Every package's code, package.json and licence stay as published.
import {readdirSync, rmSync} from 'node:fs';
import {join} from 'node:path';

const UNUSED = /\.(map|ts|mts|cts)$/;

function prune(dir) {
  let removed = 0;
  for (const entry of readdirSync(dir, {withFileTypes: true})) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      removed += prune(path);
    } else if (UNUSED.test(entry.name)) {
      rmSync(path);
      removed += 1;
    }
  }
  return removed;
}

const root = join(import.meta.dirname, 'node_modules');
console.log(`removed ${prune(root)} files from ${root}`);
