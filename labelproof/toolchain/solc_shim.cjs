#!/usr/bin/env node
// A native-solc look-alike over the npm `solc` module (WebAssembly), for machines where no solc
// binary can be downloaded. It implements the two things py-solc-x and brownie use:
// `--version` and `--standard-json` (input on stdin, output on stdout), with imports resolved
// from --base-path, --include-path and --allow-paths the way native solc resolves them.
"use strict";
const fs = require("fs");
const path = require("path");

const SOLC_MODULE = process.env.LABELPROOF_SOLC_MODULE || "solc";

function parseArgs(argv) {
  const opts = { standardJson: false, version: false, basePath: null, includePaths: [], allowPaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes("=") ? arg.split(/=(.*)/s, 2) : [arg, null];
    const value = () => (inline !== null ? inline : argv[++i]);
    switch (flag) {
      case "--version": opts.version = true; break;
      case "--standard-json": opts.standardJson = true; break;
      case "--base-path": opts.basePath = value(); break;
      case "--include-path": opts.includePaths.push(value()); break;
      case "--allow-paths": opts.allowPaths.push(...value().split(",").filter(Boolean)); break;
      case "-": break;
      default:
        process.stderr.write(`unrecognised option '${flag}'\n`);
        process.exit(1);
    }
  }
  return opts;
}

function importResolver(opts) {
  const roots = [process.cwd(), opts.basePath, ...opts.includePaths, ...opts.allowPaths]
    .filter(Boolean)
    .map((p) => path.resolve(p));
  return (importPath) => {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : roots.map((root) => path.join(root, importPath));
    for (const candidate of candidates) {
      try {
        return { contents: fs.readFileSync(candidate, "utf8") };
      } catch (_) {
        // try the next root
      }
    }
    return { error: `File not found: ${importPath} (searched ${roots.join(", ")})` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const solc = require(SOLC_MODULE);
  if (opts.version) {
    const v = solc.version().replace(".Emscripten.clang", "");
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${v}\n`);
    return;
  }
  if (!opts.standardJson) {
    process.stderr.write("only --version and --standard-json are supported by this solc shim\n");
    process.exit(1);
  }
  const input = fs.readFileSync(0, "utf8");
  const output = solc.compile(input, { import: importResolver(opts) });
  process.stdout.write(output + "\n");
}

main();
