#!/usr/bin/env node
// Prints the TextMate scopes of each file given, as VS Code's own engine (vscode-textmate with
// the Oniguruma regular expressions) assigns them with syntaxes/xdsl.tmLanguage.json:
//   node scripts/scopes.js FILE...  ->  {"FILE": [[[start, end, [scope, ...]], ...], ...]}
// one list of tokens per line, columns counted in code points (as Python counts them).
// tests/editors/test_vscode.py compares these with the Pygments lexer's token classes.
'use strict';

const fs = require('fs');
const path = require('path');
const oniguruma = require('vscode-oniguruma');
const vsctm = require('vscode-textmate');

const GRAMMAR = path.join(__dirname, '..', 'syntaxes', 'xdsl.tmLanguage.json');

/**
 * The code points in line[0:units]: vscode-textmate counts UTF-16 code units.
 * @param {string} line
 * @param {number} units
 * @returns {number}
 */
function points(line, units) {
  return Array.from(line.slice(0, units)).length;
}

/**
 * @param {string[]} files
 * @returns {Promise<void>}
 */
async function main(files) {
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (scopeName) => scopeName === 'source.xdsl'
      ? vsctm.parseRawGrammar(fs.readFileSync(GRAMMAR, 'utf8'), GRAMMAR)
      : null,
  });
  const grammar = await registry.loadGrammar('source.xdsl');
  if (!grammar) throw new Error(`cannot load ${GRAMMAR}`);
  /** @type {Record<string, [number, number, string[]][][]>} */
  const out = {};
  for (const file of files) {
    let state = vsctm.INITIAL;
    out[file] = fs.readFileSync(file, 'utf8').split(/\r\n|\r|\n/).map((line) => {
      const result = grammar.tokenizeLine(line, state);
      state = result.ruleStack;
      return result.tokens.map((t) => [points(line, t.startIndex),
        points(line, Math.min(t.endIndex, line.length)), t.scopes]);
    });
  }
  process.stdout.write(JSON.stringify(out));
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
