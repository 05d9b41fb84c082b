#!/usr/bin/node
// demo_agent.mjs — a small, deterministic fake coding agent for the tokentap demo.
//
// It runs 2 user turns. Each turn: one Anthropic count_tokens call, a tool-use loop
// of streaming Anthropic /v1/messages calls that re-send the growing conversation
// (a few-KB system prompt with cache_control, tool definitions, every previous
// message), and one streaming OpenAI chat completion (include_usage) that titles
// the turn. It prints one line per call with the usage the API reported, then
// totals, so the output can be compared with `tokentap profile`.
//
//   demo_agent.mjs --base-url https://127.0.0.1:PORT --ca ca.pem
//   ANTHROPIC_BASE_URL=https://127.0.0.1:PORT NODE_EXTRA_CA_CERTS=ca.pem demo_agent.mjs
//
// Options: --openai-base-url URL (default $OPENAI_BASE_URL or BASE/v1),
//          --resolve HOST:ADDRESS (repeatable: connect to ADDRESS for HOST, as curl's
//          --resolve; the demo plays api.anthropic.com and api.openai.com on loopback),
//          --model M, --openai-model M, --event-delay-ms N (server-side pacing, default 10),
//          --quiet (totals only).
// Talks to tests/llmserver/llmserver.py: usage numbers are steered with the
// server's x-test-usage / x-test-reply-words / x-test-tool-use headers.
import { httpsAgent, parseAgentArgs, postJson, sseParser } from './agent_util.mjs';

function parseArgs(argv) {
  const a = { eventDelayMs: 10, quiet: false };
  parseAgentArgs('demo_agent', argv, a, {
    '--openai-base-url': (val) => { a.openaiBaseUrl = val(); },
    '--openai-model': (val) => { a.openaiModel = val(); },
  });
  a.openaiBaseUrl = (a.openaiBaseUrl || process.env.OPENAI_BASE_URL || `${a.baseUrl}/v1`).replace(/\/+$/, '');
  a.model = a.model || 'claude-sonnet-4-5';
  a.openaiModel = a.openaiModel || 'gpt-4o-mini';
  return a;
}

// ---------------------------------------------------------------- fixtures

const SYSTEM_PROMPT = [
  'You are DemoAgent, a careful software engineering assistant working in a terminal.',
  'You can read files, run commands and edit files with the tools you are given.',
  ...Array.from({ length: 40 }, (_, i) =>
    `Guideline ${i + 1}: prefer small, reviewable changes; explain what you changed and why; ` +
    'run the relevant tests before you report success; never invent file contents.'),
].join('\n');

const TOOLS = [
  { name: 'read_file', description: 'Read a file from the workspace and return its contents.',
    input_schema: { type: 'object', properties: { path: { type: 'string', description: 'Path relative to the repo root' } }, required: ['path'] } },
  { name: 'run_command', description: 'Run a shell command in the workspace and return stdout and stderr.',
    input_schema: { type: 'object', properties: { command: { type: 'string' }, timeout_s: { type: 'integer' } }, required: ['command'] } },
  { name: 'edit_file', description: 'Replace one exact occurrence of old_text with new_text in a file.',
    input_schema: { type: 'object', properties: { path: { type: 'string' }, old_text: { type: 'string' }, new_text: { type: 'string' } }, required: ['path', 'old_text', 'new_text'] } },
  { name: 'write_file', description: 'Create or overwrite a file with the given contents.',
    input_schema: { type: 'object', properties: { path: { type: 'string' }, content: { type: 'string' } }, required: ['path', 'content'] } },
];

function fakeSource(lines) {
  const out = ['#include <stddef.h>', '#include "tokenize.h"', ''];
  for (let i = 0; out.length < lines; i++) {
    out.push(`/* helper ${i}: classify one byte of input */`);
    out.push(`static int is_class_${i}(char c) { return c == '${String.fromCharCode(97 + (i % 26))}'; }`);
  }
  out.push('size_t tokenize(const char *s, size_t len, token_t *out) {');
  out.push('  size_t n = 0;');
  out.push('  for (size_t i = 0; i <= len; i++) { if (is_class_0(s[i])) out[n++] = make_token(s, i); }');
  out.push('  return n;', '}');
  return out.join('\n');
}

const TOOL_RESULTS = {
  read_file: () => fakeSource(60),
  run_command: (inp) => `$ ${inp.command}\n` + Array.from({ length: 25 }, (_, i) =>
    `test_tokenize_${i} ... ${i === 17 ? 'FAILED (SIGSEGV)' : 'ok'}`).join('\n'),
  edit_file: (inp) => `Edited ${inp.path}: 1 replacement.`,
  write_file: (inp) => `Wrote ${inp.path} (${inp.content.length} bytes).`,
};

const TURNS = [
  {
    user: 'The tokenizer tests crash with a segfault. Find the bug in src/tokenize.c and fix it.',
    steps: [
      { tool: 'read_file', input: { path: 'src/tokenize.c' }, words: 18 },
      { tool: 'run_command', input: { command: 'make test' }, words: 14 },
      { tool: 'edit_file', input: { path: 'src/tokenize.c', old_text: 'i <= len', new_text: 'i < len' }, words: 22 },
      { tool: 'run_command', input: { command: 'make test' }, words: 9 },
      { words: 60 },
    ],
  },
  {
    user: 'Great. Now add a regression test for the off-by-one, including the empty-input case.',
    steps: [
      { tool: 'write_file', input: { path: 'tests/test_tokenize_bounds.c', content: '#include "tokenize.h"\nint main(void) { token_t t[4]; return tokenize("", 0, t) != 0; }\n' }, words: 20 },
      { tool: 'run_command', input: { command: 'make test' }, words: 11 },
      { words: 45 },
    ],
  },
];

// ---------------------------------------------------------------- HTTP

const post = (agent, url, headers, obj, onText) =>
  postJson(agent, url, headers, obj, onText, 'demo-agent/1.0 (tokentap demo)');

// ---------------------------------------------------------------- agent

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const agent = httpsAgent(a);
  const anthropicHeaders = {
    'x-api-key': process.env.ANTHROPIC_API_KEY || 'sk-ant-demo',
    'anthropic-version': '2023-06-01',
    'x-test-event-delay-ms': String(a.eventDelayMs),
  };
  const log = (s) => { if (!a.quiet) console.log(s); };
  const totals = { calls: 0, input: 0, cache_read: 0, cache_write: 0, output: 0,
    oa_prompt: 0, oa_cached: 0, oa_completion: 0 };
  const t0 = Date.now();

  const messages = [];
  let cachedPrefixBytes = 0; // what the previous call wrote/read from the prompt cache

  const systemBlocks = [{ type: 'text', text: SYSTEM_PROMPT, cache_control: { type: 'ephemeral' } }];

  // Claude Code style: cache breakpoint on the last block of the last message.
  const withBreakpoint = (msgs) => msgs.map((m, i) => {
    if (i !== msgs.length - 1) return m;
    const content = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
    return { ...m, content: content.map((b, j) => (j === content.length - 1 ? { ...b, cache_control: { type: 'ephemeral' } } : b)) };
  });

  for (let t = 0; t < TURNS.length; t++) {
    const turn = TURNS[t];
    const tag = `[turn ${t + 1}]`;
    messages.push({ role: 'user', content: turn.user });

    // 1. count_tokens for the context meter.
    {
      const r = await post(agent, `${a.baseUrl}/v1/messages/count_tokens?beta=true`, anthropicHeaders,
        { model: a.model, system: systemBlocks, tools: TOOLS, messages });
      const n = r.status === 200 ? JSON.parse(r.text).input_tokens : '?';
      totals.calls++;
      log(`${tag} POST /v1/messages/count_tokens          ${r.status}  input_tokens=${n}`);
    }

    // 2. tool-use loop.
    for (let s = 0; s < turn.steps.length; s++) {
      const step = turn.steps[s];
      const req = { model: a.model, max_tokens: 8192, stream: true, system: systemBlocks, tools: TOOLS,
        messages: withBreakpoint(messages) };
      const bytes = Buffer.byteLength(JSON.stringify(req));
      // Steer the server's usage like a warm prompt cache would look.
      const total = Math.floor(bytes / 4);
      const cacheRead = Math.min(Math.floor(cachedPrefixBytes / 4), total);
      const input = Math.min(3 + ((t * 7 + s) % 5), total - cacheRead);
      const cacheWrite = Math.max(0, total - cacheRead - input);
      cachedPrefixBytes = bytes;
      const headers = { ...anthropicHeaders,
        'x-test-usage': `input=${input},cache_read=${cacheRead},cache_write_5m=${cacheWrite}`,
        'x-test-reply-words': String(step.words) };
      if (step.tool) headers['x-test-tool-use'] = `${step.tool} ${JSON.stringify(step.input)}`;

      let usage = {};
      let text = '';
      let stopReason = '';
      const tools = [];
      const feed = sseParser((ev, data) => {
        const d = JSON.parse(data);
        if (d.type === 'message_start') usage = { ...d.message.usage };
        else if (d.type === 'content_block_start' && d.content_block.type === 'tool_use') {
          tools.push({ type: 'tool_use', id: d.content_block.id, name: d.content_block.name, json: '' });
        } else if (d.type === 'content_block_delta' && d.delta.type === 'text_delta') text += d.delta.text;
        else if (d.type === 'content_block_delta' && d.delta.type === 'input_json_delta') tools[tools.length - 1].json += d.delta.partial_json;
        else if (d.type === 'message_delta') { Object.assign(usage, d.usage); stopReason = d.delta.stop_reason; }
      });
      const r = await post(agent, `${a.baseUrl}/v1/messages?beta=true`, headers, req, feed);
      totals.calls++;
      if (r.status !== 200) { log(`${tag} POST /v1/messages (stream)  ${r.status}  ${r.text.slice(0, 200)}`); process.exitCode = 1; break; }
      totals.input += usage.input_tokens || 0;
      totals.cache_read += usage.cache_read_input_tokens || 0;
      totals.cache_write += usage.cache_creation_input_tokens || 0;
      totals.output += usage.output_tokens || 0;
      const toolNote = tools.length ? `-> ${tools.map((x) => x.name).join(', ')}` : `-> ${stopReason}`;
      log(`${tag} POST /v1/messages (stream, ${String(Math.round(bytes / 1024)).padStart(3)} KB)  ${r.status}  ` +
        `in=${usage.input_tokens} cache_read=${usage.cache_read_input_tokens} ` +
        `cache_write=${usage.cache_creation_input_tokens} out=${usage.output_tokens}  ${toolNote}`);

      const assistant = [{ type: 'text', text }];
      for (const tu of tools) assistant.push({ type: 'tool_use', id: tu.id, name: tu.name, input: JSON.parse(tu.json || '{}') });
      messages.push({ role: 'assistant', content: assistant });
      if (!tools.length) break;
      messages.push({ role: 'user', content: tools.map((tu) => {
        const inp = JSON.parse(tu.json || '{}');
        return { type: 'tool_result', tool_use_id: tu.id, content: (TOOL_RESULTS[tu.name] || (() => 'ok'))(inp) };
      }) });
    }

    // 3. a cheap model titles the turn (OpenAI chat completions, streaming with usage).
    {
      const req = { model: a.openaiModel, stream: true, stream_options: { include_usage: true },
        messages: [{ role: 'system', content: 'Write a 5-word title for this coding session turn.' },
          { role: 'user', content: turn.user }] };
      let u = null;
      let title = '';
      const feed = sseParser((ev, data) => {
        if (data === '[DONE]') return;
        const d = JSON.parse(data);
        if (d.usage) u = d.usage;
        for (const c of d.choices || []) if (c.delta && c.delta.content) title += c.delta.content;
      });
      const r = await post(agent, `${a.openaiBaseUrl}/chat/completions`,
        { authorization: `Bearer ${process.env.OPENAI_API_KEY || 'sk-demo'}`, 'x-test-reply-words': '5' }, req, feed);
      totals.calls++;
      if (u) {
        totals.oa_prompt += u.prompt_tokens;
        totals.oa_cached += u.prompt_tokens_details ? u.prompt_tokens_details.cached_tokens : 0;
        totals.oa_completion += u.completion_tokens;
      }
      log(`${tag} POST /v1/chat/completions (stream)      ${r.status}  ` +
        (u ? `prompt=${u.prompt_tokens} cached=${u.prompt_tokens_details.cached_tokens} completion=${u.completion_tokens}` : 'no usage') +
        `  title="${title.trim()}"`);
    }
  }

  agent.destroy();
  console.log(`demo-agent: ${totals.calls} API calls in ${Date.now() - t0} ms; as reported by the APIs:`);
  console.log(`  anthropic: input=${totals.input} cache_read=${totals.cache_read} cache_write=${totals.cache_write} output=${totals.output}`);
  console.log(`  openai:    prompt=${totals.oa_prompt} (cached ${totals.oa_cached}) completion=${totals.oa_completion}`);
}

main().catch((e) => { console.error(`demo_agent: ${e.stack || e}`); process.exit(1); });
