// A small program built on the Claude Agent SDK (@anthropic-ai/claude-agent-sdk): one query()
// with a prompt, the way an app embeds Claude Code as its agent. The SDK starts the Claude Code
// binary of its platform package as a child process and talks to it over stdio; Claude Code
// makes the API calls, with the environment the SDK hands it (ours: ANTHROPIC_BASE_URL,
// ANTHROPIC_API_KEY, NODE_EXTRA_CA_CERTS, ...).
//
//   node agent_sdk_app.mjs --sdk PREFIX/node_modules/@anthropic-ai/claude-agent-sdk/sdk.mjs
//        [--client-app NAME] [--max-turns N] PROMPT
//
// --client-app: the name the app gives itself (CLAUDE_AGENT_SDK_CLIENT_APP, which Claude Code
// puts in its User-Agent and x-client-app header). Prints one JSON line on stdout: the session
// ids the SDK's messages carried, the result text, and the number of messages. Exit 0 iff the
// query ended with a successful result.
import { pathToFileURL } from "node:url";

function parseArgs(argv) {
  const out = { sdk: null, clientApp: null, maxTurns: 1, prompt: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--sdk") out.sdk = argv[++i];
    else if (a === "--client-app") out.clientApp = argv[++i];
    else if (a === "--max-turns") out.maxTurns = Number(argv[++i]);
    else out.prompt = a;
  }
  if (!out.sdk || !out.prompt) throw new Error("usage: agent_sdk_app.mjs --sdk SDK_ENTRY [--client-app NAME] PROMPT");
  return out;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  // The SDK lives in its harness prefix, not next to this file: import it by path.
  const { query } = await import(pathToFileURL(args.sdk).href);
  const env = { ...process.env };
  if (args.clientApp) env.CLAUDE_AGENT_SDK_CLIENT_APP = args.clientApp;
  const sessions = new Set();
  let result = null, messages = 0;
  // No settings files, no tools: the prompt alone, answered in one turn.
  const options = { env, maxTurns: args.maxTurns, settingSources: [], allowedTools: [], cwd: process.cwd() };
  for await (const m of query({ prompt: args.prompt, options })) {
    messages++;
    if (m.session_id) sessions.add(m.session_id);
    if (m.type === "result") result = m;
  }
  const ok = result && result.subtype === "success" && !result.is_error;
  console.log(JSON.stringify({ session_ids: [...sessions], result: result && result.result, subtype: result && result.subtype,
                               messages }));
  process.exitCode = ok ? 0 : 1;
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exitCode = 2;
});
