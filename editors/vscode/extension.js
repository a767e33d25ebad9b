// @ts-check
// The xdsl extension's client: starts `xdsl lsp` (the language server) over stdio for xdsl specs
// (*.x), and restarts it when the command that runs it changes.
'use strict';

const path = require('path');
const vscode = require('vscode');
const { LanguageClient, State } = require('vscode-languageclient/node');

/** @type {LanguageClient | undefined} */
let client;

/** @type {vscode.OutputChannel | undefined} */
let output;

/**
 * The server's command: `xdsl.server.path` (a relative path with a slash is taken from the first
 * workspace folder, so `.venv/bin/xdsl` works) and `xdsl.server.args`.
 * @param {vscode.WorkspaceConfiguration} config
 * @returns {{command: string, args: string[]}}
 */
function serverCommand(config) {
  let command = config.get('server.path', 'xdsl') || 'xdsl';
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (folder && !path.isAbsolute(command) && /[\\/]/.test(command)) {
    command = path.join(folder.uri.fsPath, command);
  }
  return { command, args: config.get('server.args', ['lsp']) };
}

/**
 * Starts the client and the server it spawns.
 * @returns {Promise<void>}
 */
async function start() {
  const config = vscode.workspace.getConfiguration('xdsl');
  const { command, args } = serverCommand(config);
  const executable = { command, args };
  client = new LanguageClient(
    'xdsl',
    'xdsl language server',
    { run: executable, debug: executable },
    {
      documentSelector: [
        { scheme: 'file', language: 'xdsl' },
        { scheme: 'untitled', language: 'xdsl' },
      ],
      // The values to evaluate specs at, as `--set NAME=VALUE` gives them; a change is sent as
      // workspace/didChangeConfiguration with the `xdsl` section, and the server re-checks.
      initializationOptions: { parameters: config.get('parameters', {}) },
      synchronize: { configurationSection: 'xdsl' },
      outputChannel: output,
    },
  );
  try {
    await client.start();
  } catch (err) {
    client = undefined;
    const message = err instanceof Error ? err.message : String(err);
    const choice = await vscode.window.showErrorMessage(
      `xdsl: could not start \`${[command, ...args].join(' ')}\` (${message}). Install xdsl-nets ` +
      '(`pip install xdsl-nets`) or set "xdsl.server.path" to its `xdsl` command.',
      'Open Settings',
    );
    if (choice === 'Open Settings') {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'xdsl.server');
    }
  }
}

/**
 * Stops the client and its server, if running.
 * @returns {Promise<void>}
 */
async function stop() {
  const running = client;
  client = undefined;
  if (running && running.state !== State.Stopped) {
    await running.stop();
  }
}

/** @returns {Promise<void>} */
async function restart() {
  await stop();
  await start();
}

/**
 * @param {vscode.ExtensionContext} context
 * @returns {Promise<void>}
 */
async function activate(context) {
  output = vscode.window.createOutputChannel('xdsl');
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand('xdsl.restartServer', restart),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('xdsl.server')) {
        void restart();
      }
    }),
  );
  await start();
}

/** @returns {Promise<void>} */
function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
