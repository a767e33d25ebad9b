#!/usr/bin/env node
// Runs extension.js outside VS Code: a stand-in `vscode` module (every API a no-op, settings from
// the command line), then activates the extension, waits for its client to start `xdsl lsp` and
// finish the handshake, and prints the server's name and the options the client sent.
//   node scripts/smoke.js '{"server.path": "xdsl", "parameters": {"classes": 10}}'
'use strict';

const Module = require('module');

const settings = JSON.parse(process.argv[2] || '{}');

/** Anything: callable, constructible, every property another stand-in, never a promise. */
function standIn(name) {
  const target = function () {};
  return new Proxy(target, {
    get(_, key) {
      if (key === 'then') return undefined;
      if (key === Symbol.toPrimitive) return () => name;
      if (key === 'prototype') return target.prototype;
      return standIn(`${name}.${String(key)}`);
    },
    apply: () => standIn(`${name}()`),
    construct: () => standIn(`new ${name}`),
  });
}

const disposable = { dispose() {} };
const event = () => disposable;
const vscode = new Proxy({
  workspace: new Proxy({
    workspaceFolders: undefined,
    getConfiguration: () => ({ get: (key, fallback) => (key in settings ? settings[key] : fallback) }),
    onDidChangeConfiguration: event,
    onDidOpenTextDocument: event,
    onDidChangeTextDocument: event,
    onDidCloseTextDocument: event,
    onDidSaveTextDocument: event,
    onWillSaveTextDocument: event,
    onDidChangeWorkspaceFolders: event,
    textDocuments: [],
    createFileSystemWatcher: () => ({ onDidCreate: event, onDidChange: event, onDidDelete: event, dispose() {} }),
  }, { get: (t, k) => (k in t ? t[k] : standIn(`workspace.${String(k)}`)) }),
  window: new Proxy({
    createOutputChannel: () => ({ append() {}, appendLine() {}, show() {}, dispose() {}, replace() {}, clear() {} }),
    showErrorMessage: async (message) => { console.error(`error message: ${message}`); },
    visibleTextEditors: [],
    onDidChangeVisibleTextEditors: event,
    onDidChangeActiveTextEditor: event,
  }, { get: (t, k) => (k in t ? t[k] : standIn(`window.${String(k)}`)) }),
  version: '1.82.0',
  env: { appName: 'smoke test', language: 'en', machineId: 'smoke', sessionId: 'smoke', uriScheme: 'vscode', appRoot: '/' },
  commands: { registerCommand: () => disposable, executeCommand: async () => undefined },
  Disposable: class { constructor(f) { this.dispose = f; } static from() { return disposable; } },
  EventEmitter: class { constructor() { this.event = event; } fire() {} dispose() {} },
}, { get: (t, k) => (k in t ? t[k] : standIn(String(k))) });

const load = Module._load;
Module._load = function (request, ...rest) {
  return request === 'vscode' ? vscode : load.call(this, request, ...rest);
};

const extension = require('../extension.js');
const { LanguageClient } = require('vscode-languageclient/node');

// Record what the client sends and the server answers in the handshake.
const start = LanguageClient.prototype.start;
let client;
LanguageClient.prototype.start = function () { client = this; return start.call(this); };

(async () => {
  await extension.activate({ subscriptions: [] });
  if (!client || !client.isRunning()) throw new Error('the client did not start');
  const result = client.initializeResult;
  console.log(JSON.stringify({
    server: result && result.serverInfo,
    initializationOptions: client.clientOptions.initializationOptions,
    hover: Boolean(result && result.capabilities.hoverProvider),
  }));
  await extension.deactivate();
  process.exit(0);
})().catch((err) => { console.error(err && err.stack || err); process.exit(1); });
