#!/usr/bin/node
// session_agent.mjs — a scripted coding-agent session for the analysis end-to-end test
// (docs/analysis.md, tests/e2e/test_analysis.py).
//
// It talks to tests/llmserver/llmserver.py on the Anthropic Messages API as Claude Code
// does (streaming, cache_control on the system prompt and on the last message, tool
// definitions, tool_use / tool_result rounds, a subagent, a title call) and makes the
// server report, per request, the usage a provider with prompt caching would report:
// it keeps its own model of the provider's cache (prefixes written at breakpoints,
// read back by later requests that start with them) and sends the numbers with
// x-test-usage. The session contains on purpose: a cut stream and its retry, a side
// call, cached tool rounds, one huge tool result carried along, an idle longer than
// the cache lifetime, a subagent without cache breakpoints, a changed system prompt
// (its date), two low-value calls, a compaction, a context reset, and tools defined
// on every call that are never called.
//
// At the end it prints its ground truth as one JSON object on stdout: for each
// request, its number in start order, what it was meant to show (finding kinds, the
// cache-miss reason), its conversation, role and turn by the rules, the usage it
// asked for, and the byte counts the expected figures are computed from.
// Progress goes to stderr.
//
//   session_agent.mjs --base-url https://api.anthropic.com:PORT --ca ca.pem \
//       --resolve api.anthropic.com:127.0.0.1 [--tidy] [--cache-ttl S] [--quiet]
//
// Options: --resolve HOST:ADDRESS (repeatable, as curl's), --model M (main model),
//          --title-model M, --event-delay-ms N (server-side pacing, default 2),
//          --cache-ttl S: the cache lifetime the session is analysed with (default 3;
//          the agent idles S + 1.5 s once), --tidy: the same task without the agent's
//          faults (no idle, a stable system prompt, breakpoints in the subagent too, only
//          the tools it calls, the long test log cut to its tail).
import crypto from 'node:crypto';

import { httpsAgent, parseAgentArgs, postJson, sseParser } from './agent_util.mjs';

function parseArgs(argv) {
  const a = { eventDelayMs: 2, cacheTtl: 3, tidy: false, quiet: false };
  parseAgentArgs('session_agent', argv, a, {
    '--title-model': (val) => { a.titleModel = val(); },
    '--cache-ttl': (val) => { a.cacheTtl = parseFloat(val()); },
    '--tidy': () => { a.tidy = true; },
  });
  a.model = a.model || 'claude-sonnet-4-5';
  a.titleModel = a.titleModel || 'claude-haiku-4-5';
  return a;
}

// ---------------------------------------------------------------- fixtures

const EPHEMERAL = { type: 'ephemeral' };

function mainSystem(date) {
  return [
    'You are ScenarioAgent, a coding assistant working in a terminal on a C project.',
    `Today's date is ${date}.`,
    'Use the tools to read files, run commands and change files; use task for searches across many files.',
    ...Array.from({ length: 60 }, (_, i) =>
      `Rule ${i + 1}: keep each change small and reviewable, run the tests that cover it, ` +
      'say what you changed and why, and never guess at file contents.'),
  ].join('\n');
}

const SUB_SYSTEM = [
  'You are a search subagent. Answer the question you are given from the code, briefly, with file and line.',
  ...Array.from({ length: 60 }, (_, i) =>
    `Search rule ${i + 1}: look at every caller, quote the line that matters, report nothing you did not read.`),
].join('\n');

const TITLE_SYSTEM = 'Write a title of at most five words for the coding task the user describes. Reply with the title only.';

const TOOL_DEFS = {
  read_file: { name: 'read_file', description: 'Read a file from the workspace and return its contents.',
    input_schema: { type: 'object', properties: { path: { type: 'string', description: 'Path relative to the repository root' } }, required: ['path'] } },
  run_command: { name: 'run_command', description: 'Run a shell command in the workspace and return its output.',
    input_schema: { type: 'object', properties: { command: { type: 'string' }, timeout_s: { type: 'integer' } }, required: ['command'] } },
  edit_file: { name: 'edit_file', description: 'Replace one exact occurrence of old_text with new_text in a file.',
    input_schema: { type: 'object', properties: { path: { type: 'string' }, old_text: { type: 'string' }, new_text: { type: 'string' } }, required: ['path', 'old_text', 'new_text'] } },
  write_file: { name: 'write_file', description: 'Create or overwrite a file with the given contents.',
    input_schema: { type: 'object', properties: { path: { type: 'string' }, content: { type: 'string' } }, required: ['path', 'content'] } },
  task: { name: 'task', description: 'Hand a self-contained search or question to a subagent and get its answer back.',
    input_schema: { type: 'object', properties: { description: { type: 'string' }, prompt: { type: 'string' } }, required: ['description', 'prompt'] } },
  search_code: { name: 'search_code', description: 'Search the repository for a regular expression and list matching lines. ' +
    'Patterns use ripgrep syntax; results are grouped by file, at most 200 lines, each with its line number. ' +
    'Prefer it to run_command with grep: it skips build directories and binary files and respects .gitignore.',
    input_schema: { type: 'object', properties: { pattern: { type: 'string' }, glob: { type: 'string' } }, required: ['pattern'] } },
  web_fetch: { name: 'web_fetch', description: 'Fetch a web page and return it as Markdown. ' +
    'Use it for documentation and specifications the repository does not contain; HTML is converted to Markdown, ' +
    'scripts and styles are removed, and pages longer than 100 KB are cut. Never use it for files in the workspace.',
    input_schema: { type: 'object', properties: { url: { type: 'string' } }, required: ['url'] } },
};

// A C file of about `functions` small functions, as read_file returns it.
function cFile(name, functions) {
  const body = Array.from({ length: functions }, (_, i) => [
    `/* ${name}.c: token class ${i} (bytes equal to ${97 + (i % 26)}) */`,
    `int ${name}_class_${i}(unsigned char c) { return c == ${97 + (i % 26)}; }`,
  ].join('\n'));
  return [`#include "${name}.h"`, ...body,
    'size_t tokenize(const char *s, size_t len, token_t *out) {',
    '  size_t n = 0;',
    '  for (size_t i = 0; i <= len; i++) if (tokenize_class_0(s[i])) out[n++] = make_token(s, i);',
    '  return n;',
    '}'].join('\n');
}

// `make test VERBOSE=1`: about 53 KB of test log (some 13,000 tokens), or its tail when tidy.
function testLog(tidy) {
  const lines = ['$ make test VERBOSE=1'];
  for (let i = 0; i < 640; i++) {
    const verdict = i === 417 ? 'FAILED (SIGSEGV in tokenize at src/tokenize.c:64)' : 'ok';
    const id = String(i).padStart(3, '0');
    lines.push(`[${id}/640] tests/tokenizer/case_${id}.txt: input=${(i * 7919) % 1000} bytes, tokens=${(i * 31) % 97} ... ${verdict} (0.00${i % 10}s)`);
  }
  lines.push('639 passed, 1 failed');
  return tidy ? ['$ make test VERBOSE=1 | tail -n 40', ...lines.slice(-40)].join('\n') : lines.join('\n');
}

const SUMMARY = [
  'Summary of the work so far (earlier messages were compacted):',
  '- tokenize() in src/tokenize.c read one byte past the end (i <= len); fixed to i < len, all 560 tests pass.',
  '- tests/test_tokenize_bounds.c covers the off-by-one and empty input; the subagent found no caller relying on a NUL.',
  '- the ASan/UBSan build is clean.',
].join('\n');

// ---------------------------------------------------------------- the provider's cache, modelled

// Tokens of a prompt: 4 bytes of its JSON each, plus a few for the framing around it.
const FRAMING_TOKENS = 3;
const tok = (bytes) => Math.floor(bytes / 4);

function withoutMarkers(v) {
  if (Array.isArray(v)) return v.map(withoutMarkers);
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) if (k !== 'cache_control') o[k] = withoutMarkers(x);
    return o;
  }
  return v;
}

function hasMarker(v) {
  if (Array.isArray(v)) return v.some(hasMarker);
  if (v && typeof v === 'object') return Object.entries(v).some(([k, x]) => k === 'cache_control' || hasMarker(x));
  return false;
}

// Text bytes as docs/analysis.md's anatomy counts them: every string value, no keys
// (of a block without its cache markers: they are no prompt text).
function textBytes(v) {
  if (typeof v === 'string') return Buffer.byteLength(v);
  if (Array.isArray(v)) return v.reduce((n, x) => n + textBytes(x), 0);
  if (v && typeof v === 'object') return Object.values(v).reduce((n, x) => n + textBytes(x), 0);
  return 0;
}

// The prompt as the blocks the provider caches, in its order: tools, system, messages.
function blocksOf(body) {
  return [...(body.tools || []), ...(body.system === undefined ? [] : [body.system]), ...body.messages];
}

// Anthropic's prompt cache: a breakpoint (cache_control) writes the prefix up to it; a
// later request reads the longest prefix that was written (and has not expired: the
// agent empties the cache when it idles past the lifetime), and writes from there to
// its last breakpoint. Keys ignore the markers themselves, as the provider does.
class PromptCache {
  constructor() { this.keys = new Set(); }
  clear() { this.keys.clear(); }
  usage(model, blocks) {
    const h = crypto.createHash('sha256').update(model);
    let bytes = 0;
    const keys = [], cum = [], marks = [];
    blocks.forEach((b, i) => {
      const s = JSON.stringify(withoutMarkers(b));
      h.update('\u0000' + s);
      keys.push(h.copy().digest('hex'));
      bytes += Buffer.byteLength(s);
      cum.push(bytes);
      if (hasMarker(b)) marks.push(i);
    });
    const total = tok(bytes) + FRAMING_TOKENS;
    if (!marks.length) return { input: total, read: 0, write: 0, total };
    const last = marks[marks.length - 1];
    let hit = -1;
    for (let i = 0; i <= last; i++) if (this.keys.has(keys[i])) hit = i;
    const read = hit >= 0 ? tok(cum[hit]) : 0;
    const write = tok(cum[last]) - read;
    for (const i of marks) this.keys.add(keys[i]);
    return { input: total - read - write, read, write, total };
  }
}

// ---------------------------------------------------------------- the session

class Conversation {
  constructor(name, { model, system, tools, breakpoints, stream = true, maxTokens = 8192 }) {
    Object.assign(this, { name, model, system, tools, breakpoints, stream, maxTokens });
    this.messages = [];
  }

  body() {
    const b = { model: this.model, max_tokens: this.maxTokens, stream: this.stream };
    b.system = this.breakpoints ? [{ type: 'text', text: this.system, cache_control: EPHEMERAL }] : this.system;
    if (this.tools.length) b.tools = this.tools.map((n) => TOOL_DEFS[n]);
    // Claude Code's way: a breakpoint on the last block of the last message.
    b.messages = !this.breakpoints ? this.messages : this.messages.map((m, i) => {
      if (i !== this.messages.length - 1) return m;
      const content = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
      return { ...m, content: content.map((c, j) => (j === content.length - 1 ? { ...c, cache_control: EPHEMERAL } : c)) };
    });
    return b;
  }
}

class Session {
  constructor(a) {
    this.a = a;
    this.cache = new PromptCache();
    this.requests = [];
    this.http = httpsAgent(a);
    this.t0 = Date.now();
    this.huge = null;  // the huge tool result's text, once the agent has it
  }

  log(s) { if (!this.a.quiet) process.stderr.write(`${s}\n`); }

  // One call of conversation c: the reply has `words` words and, with `tool`, a call to it.
  // shows: the finding kinds it is meant to trigger; miss: the cache-miss reason meant.
  // abortAfter: the server cuts the stream after that many events.
  async call(c, { words, tool = null, input = {}, shows = [], miss = null, abortAfter = 0, what = '' }) {
    const body = c.body();
    const blocks = blocksOf(body);
    // The blocks without their cache markers, which move from request to request: what the
    // provider caches, and what the anatomy measures and hashes.
    const plain = blocks.map(withoutMarkers);
    const raw = plain.map((b) => JSON.stringify(b));
    const u = this.cache.usage(c.model, blocks);
    const output = words + (tool ? 15 : 0);
    const headers = {
      'x-api-key': process.env.ANTHROPIC_API_KEY || 'sk-ant-scenario',
      'anthropic-version': '2023-06-01',
      'x-session-id': `session-agent-${this.a.tidy ? 'tidy' : 'faulty'}`,
      'x-test-event-delay-ms': String(this.a.eventDelayMs),
      'x-test-usage': `input=${u.input},cache_read=${u.read},cache_write_5m=${u.write},output=${output}`,
      'x-test-reply-words': String(words),
    };
    if (tool) headers['x-test-tool-use'] = `${tool} ${JSON.stringify(input)}`;
    if (abortAfter) headers['x-test-abort-after'] = String(abortAfter);

    const prev = [...this.requests].reverse().find((q) => q.conversation === c.name);
    const rec = {
      n: this.requests.length + 1, conversation: c.name, model: c.model, what, shows: [...shows],
      cache_miss: miss, aborted: false, tools_defined: [...c.tools],
      usage: { input_tokens: u.input, cache_read_tokens: u.read, cache_write_5m_tokens: u.write, output_tokens: output },
      prompt_tokens: u.total, new_user_turn: false, new_content: '',
      // Sizes, cache markers cut: total and unchanged are JSON bytes of the prompt's blocks (of
      // all, of those unchanged); text, tools and huge_result are text bytes (string values, as
      // the anatomy's parts: of the prompt, of each tool, of the huge tool result's block);
      // tools_json and huge_result_json the same in JSON bytes.
      bytes: { total: raw.reduce((n, s) => n + Buffer.byteLength(s), 0), unchanged: 0,
        text: plain.reduce((n, b) => n + textBytes(b), 0),
        tools: Object.fromEntries(c.tools.map((n) => [n, textBytes(TOOL_DEFS[n])])), huge_result: 0,
        tools_json: Object.fromEntries(c.tools.map((n) => [n, Buffer.byteLength(JSON.stringify(TOOL_DEFS[n]))])),
        huge_result_json: 0 },
      start_ms: Date.now() - this.t0, end_ms: 0,
    };
    // The unchanged prefix: leading blocks equal to the previous request's of the conversation.
    if (prev) {
      for (let i = 0; i < raw.length && i < prev.raw.length && raw[i] === prev.raw[i]; i++) rec.bytes.unchanged += Buffer.byteLength(raw[i]);
    }
    // New content: the user's own messages after the last assistant message.
    const msgs = body.messages;
    let lastAssistant = -1;
    msgs.forEach((m, i) => { if (m.role === 'assistant') lastAssistant = i; });
    const fresh = msgs.slice(lastAssistant + 1).filter((m) => !(Array.isArray(m.content) && m.content.some((b) => b.type === 'tool_result')));
    rec.new_user_turn = fresh.length > 0;
    rec.new_content = fresh.map((m) => JSON.stringify(m)).join('');
    if (this.huge) {
      const carried = msgs.flatMap((m) => (Array.isArray(m.content) ? m.content : []))
        .find((b) => b.type === 'tool_result' && b.content === this.huge);
      if (carried) {
        rec.bytes.huge_result = textBytes(withoutMarkers(carried));
        rec.bytes.huge_result_json = Buffer.byteLength(JSON.stringify(withoutMarkers(carried)));
      }
    }

    let text = '', stopReason = '';
    const calls = [];
    let usage = {};
    const onEvent = (ev, data) => {
      const d = JSON.parse(data);
      if (d.type === 'message_start') usage = { ...d.message.usage };
      else if (d.type === 'content_block_start' && d.content_block.type === 'tool_use') {
        calls.push({ id: d.content_block.id, name: d.content_block.name, json: '' });
      } else if (d.type === 'content_block_delta' && d.delta.type === 'text_delta') text += d.delta.text;
      else if (d.type === 'content_block_delta' && d.delta.type === 'input_json_delta') calls[calls.length - 1].json += d.delta.partial_json;
      else if (d.type === 'message_delta') { Object.assign(usage, d.usage); stopReason = d.delta.stop_reason; }
    };
    const r = await postJson(this.http, `${this.a.baseUrl}/v1/messages`, headers, body,
      c.stream ? sseParser(onEvent) : null, 'session-agent/1.0 (tokentap analysis test)');
    rec.end_ms = Date.now() - this.t0;
    rec.raw = raw;
    this.requests.push(rec);
    if (!c.stream && r.status === 200 && !r.aborted) {
      const m = JSON.parse(r.text);
      usage = m.usage;
      stopReason = m.stop_reason;
      for (const b of m.content) {
        if (b.type === 'text') text += b.text;
        else if (b.type === 'tool_use') calls.push({ id: b.id, name: b.name, json: JSON.stringify(b.input) });
      }
    }
    rec.aborted = r.aborted;
    rec.tools_called = calls.map((x) => x.name);
    this.log(`${String(rec.n).padStart(2)} ${c.name.padEnd(8)} ${r.status}${r.aborted ? ' (cut)' : ''}  prompt=${u.total} ` +
      `in=${u.input} read=${u.read} write=${u.write} out=${output}  ${calls.length ? '-> ' + calls.map((x) => x.name).join(',') : stopReason}` +
      `${shows.length ? '  [' + shows.join(', ') + (miss ? '/' + miss : '') + ']' : ''}  ${what}`);
    if (r.status !== 200) throw new Error(`request ${rec.n}: HTTP ${r.status}: ${r.text.slice(0, 300)}`);
    if (r.aborted !== Boolean(abortAfter)) throw new Error(`request ${rec.n}: aborted=${r.aborted}, expected ${Boolean(abortAfter)}`);
    if (!r.aborted && usage.cache_read_input_tokens !== u.read) throw new Error(`request ${rec.n}: the server did not take x-test-usage`);
    return { text, calls: calls.map((x) => ({ ...x, input: JSON.parse(x.json || '{}') })) };
  }

  // A tool round: the reply's tool call and its result join the conversation.
  async round(c, step, result) {
    const r = await this.call(c, step);
    const assistant = [{ type: 'text', text: r.text }];
    for (const x of r.calls) assistant.push({ type: 'tool_use', id: x.id, name: x.name, input: x.input });
    c.messages.push({ role: 'assistant', content: assistant });
    if (r.calls.length) {
      const out = typeof result === 'function' ? await result(r.calls[0].input) : result;
      c.messages.push({ role: 'user', content: r.calls.map((x) => ({ type: 'tool_result', tool_use_id: x.id, content: out })) });
    }
    return r;
  }

  async idle(ms) {
    this.log(`   (idle ${ms} ms: longer than the cache lifetime)`);
    await new Promise((res) => setTimeout(res, ms));
    this.cache.clear();
  }
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const s = new Session(a);
  const tidy = a.tidy;
  const mainTools = tidy ? ['read_file', 'run_command', 'edit_file', 'write_file', 'task']
    : ['read_file', 'run_command', 'edit_file', 'write_file', 'task', 'search_code', 'web_fetch'];
  const subTools = tidy ? ['read_file', 'run_command'] : ['read_file', 'run_command', 'search_code'];
  const A = new Conversation('main', { model: a.model, system: mainSystem('2025-06-02, 23:58'), tools: mainTools, breakpoints: true });
  // The user's text as a content block, as Claude Code sends it (the provider caches it so either way).
  const userMessage = (text) => ({ role: 'user', content: [{ type: 'text', text }] });
  const user = (c, text) => c.messages.push(userMessage(text));
  const answer = async (c, step) => {
    const r = await s.call(c, step);
    c.messages.push({ role: 'assistant', content: [{ type: 'text', text: r.text }] });
  };

  // Turn 1: a bug hunt. The first call is cut mid-stream and sent again as it was.
  const U1 = 'The tokenizer tests crash with a segfault. Find the bug in src/tokenize.c and fix it.';
  user(A, U1);
  const read1 = { tool: 'read_file', input: { path: 'src/tokenize.c' }, words: 18 };
  await s.call(A, { ...read1, abortAfter: 3, what: 'first attempt, cut after 3 events' });
  const first = await s.call(A, { ...read1, shows: ['retry'], what: 'the same body again' });
  // A title for the session, in a conversation of its own (the side call).
  const T = new Conversation('title', { model: a.titleModel, system: TITLE_SYSTEM, tools: [], breakpoints: false, stream: false, maxTokens: 32 });
  user(T, `Task: ${U1}`);
  await s.call(T, { words: 5, what: 'session title (side call)' });
  A.messages.push({ role: 'assistant', content: [{ type: 'text', text: first.text },
    ...first.calls.map((x) => ({ type: 'tool_use', id: x.id, name: x.name, input: x.input }))] });
  A.messages.push({ role: 'user', content: first.calls.map((x) => ({ type: 'tool_result', tool_use_id: x.id, content: cFile('tokenize', 34) })) });
  const log = testLog(tidy);
  await s.round(A, { tool: 'run_command', input: { command: 'make test VERBOSE=1' }, words: 14, what: 'runs the tests' }, () => {
    if (!tidy) s.huge = log;
    return log;
  });
  await s.round(A, { tool: 'edit_file', input: { path: 'src/tokenize.c', old_text: 'i <= len', new_text: 'i < len' }, words: 22,
    what: tidy ? '' : 'the first request carrying the huge test log' }, 'Edited src/tokenize.c: 1 replacement.');
  await s.round(A, { tool: 'run_command', input: { command: 'make test' }, words: 12 }, '560 passed');
  await answer(A, { words: 60, what: 'final answer of turn 1' });
  if (!tidy) await s.idle(Math.round(a.cacheTtl * 1000 + 1500));

  // Turn 2 (after the idle: the cache has expired): a regression test, and a subagent's search.
  user(A, 'Great. Now add a regression test for the off-by-one, including the empty-input case. ' +
    'Check first which callers rely on a terminating NUL.');
  const task = { description: 'NUL-terminated callers', prompt: 'Which callers of tokenize() in src/ rely on a terminating NUL byte after the input?' };
  const dispatch = await s.call(A, { tool: 'task', input: task, words: 16, shows: tidy ? [] : ['cache_miss'], miss: tidy ? null : 'expired',
    what: tidy ? 'new turn' : 'new turn after the idle: the cache expired' });
  const S = new Conversation('subagent', { model: a.model, system: SUB_SYSTEM, tools: subTools, breakpoints: tidy });
  user(S, task.prompt);
  const noBp = tidy ? {} : { shows: ['cache_miss'], miss: 'no_breakpoints', what: 'no cache_control anywhere' };
  await s.round(S, { tool: 'read_file', input: { path: 'src/lexer.c' }, words: 12, what: 'subagent starts' }, cFile('lexer', 19));
  await s.round(S, { tool: 'run_command', input: { command: "grep -rn 'tokenize(' src" }, words: 12, ...noBp },
    Array.from({ length: 12 }, (_, i) => `src/file_${i}.c:${40 + i}:  n = tokenize(buf, len, toks);`).join('\n'));
  const found = await s.call(S, { words: 30, ...noBp });
  A.messages.push({ role: 'assistant', content: [{ type: 'text', text: dispatch.text },
    ...dispatch.calls.map((x) => ({ type: 'tool_use', id: x.id, name: x.name, input: x.input }))] });
  A.messages.push({ role: 'user', content: dispatch.calls.map((x) => ({ type: 'tool_result', tool_use_id: x.id, content: found.text })) });
  await s.round(A, { tool: 'write_file', input: { path: 'tests/test_tokenize_bounds.c',
    content: '#include "tokenize.h"\nint main(void) { token_t t[4]; return tokenize("", 0, t) != 0; }\n' }, words: 20 },
  'Wrote tests/test_tokenize_bounds.c (86 bytes).');
  await s.round(A, { tool: 'run_command', input: { command: 'make test' }, words: 11 }, '561 passed');
  await answer(A, { words: 45 });

  // Turn 3: the system prompt's date has changed (past midnight), so its prefix differs.
  if (!tidy) A.system = mainSystem('2025-06-03, 00:01');
  user(A, 'Also build with -fsanitize=address,undefined and fix anything it finds.');
  await s.round(A, { tool: 'run_command', input: { command: 'make asan-test' }, words: 15, shows: tidy ? [] : ['cache_miss'],
    miss: tidy ? null : 'prefix_changed', what: tidy ? 'new turn' : 'new turn, the date in the system prompt changed' },
  'ASan/UBSan: no errors. 561 passed.');
  await answer(A, { words: 30 });

  // Turns 4 and 5: small talk that re-sends the whole context (with the test log) for a few words back.
  const small = (words) => (tidy ? { words } : { words, shows: ['low_value'], what: `a large prompt for ${words} output tokens` });
  user(A, 'Thanks!');
  await answer(A, small(2));
  user(A, 'Are all the tests green now?');
  await answer(A, small(4));

  // Turn 6: the agent compacts its context (keeping the first user message) before going on.
  A.messages = [userMessage(U1), { role: 'assistant', content: [{ type: 'text', text: SUMMARY }] }];
  user(A, 'Now make the tokenizer skip a UTF-8 byte order mark at the start of its input.');
  await s.round(A, { tool: 'read_file', input: { path: 'src/tokenize.c' }, words: 12, shows: ['compaction'],
    what: 'the context compacted: the prompt shrank by more than half' }, cFile('tokenize', 34));
  await answer(A, { words: 40 });

  // The user clears the context and asks something else: a new conversation (a context reset).
  const B = new Conversation('reset', { model: a.model, system: A.system, tools: mainTools, breakpoints: true });
  user(B, 'Write a short README section describing the tokenizer API.');
  await s.round(B, { tool: 'read_file', input: { path: 'include/tokenize.h' }, words: 12, shows: ['context_reset'],
    what: 'a new conversation after /clear' }, cFile('tokenize_api', 9));
  await answer(B, { words: 50 });
  s.http.destroy();

  process.stdout.write(JSON.stringify(truth(s, a)) + '\n');
}

// ---------------------------------------------------------------- ground truth

// What the session shows by docs/analysis.md's rules, from what the agent sent and
// the usage it asked for; kinds meant on purpose come from the script (shows), the
// ones that follow from the rest are added here and checked against the thresholds.
function truth(s, a) {
  const qs = s.requests;
  const byConv = new Map();
  for (const q of qs) (byConv.get(q.conversation) || byConv.set(q.conversation, []).get(q.conversation)).push(q);
  const add = (q, kind) => { if (!q.shows.includes(kind)) q.shows.push(kind); };
  const ttlMs = a.cacheTtl * 1000;

  // Roles: the main conversation has the most prompt tokens.
  let mainConv = null, best = -1;
  for (const [name, list] of byConv) {
    const sum = list.reduce((n, q) => n + q.prompt_tokens, 0);
    if (sum > best) { best = sum; mainConv = name; }
  }
  for (const [name, list] of byConv) for (const q of list) q.role = name === mainConv ? 'main' : list.length >= 2 ? 'subagent' : 'side';
  // Turns: a main request with new user content other than the last turn's starts one.
  let turn = 0, lastNew = null;
  for (const q of qs) {
    if (q.role === 'main' && q.new_user_turn && q.new_content !== lastNew) { turn++; lastNew = q.new_content; }
    q.turn = Math.max(turn, 1);
  }

  for (const list of byConv.values()) {
    list.forEach((q, k) => {
      const u = q.usage;
      // A cache write no later request of the conversation read from within the lifetime.
      if (u.cache_write_5m_tokens > 0 && !list.slice(k + 1).some((l) => l.usage.cache_read_tokens > 0 && l.start_ms <= q.end_ms + ttlMs)) add(q, 'cache_write_unread');
    });
  }
  // Tools defined that no response called (sessions of 3 requests or more).
  const called = new Set(qs.flatMap((q) => q.tools_called));
  const unused = [...new Set(qs.flatMap((q) => q.tools_defined))].filter((t) => !called.has(t)).sort();
  for (const q of qs) {
    q.bytes.unused_tools = unused.reduce((n, t) => n + (q.bytes.tools[t] || 0), 0);
    q.bytes.unused_tools_json = unused.reduce((n, t) => n + (q.bytes.tools_json[t] || 0), 0);
    if (qs.length >= 3 && q.bytes.unused_tools > 0) add(q, 'unused_tools');
  }
  // The huge tool result: every request after the first that carries it.
  let firstCarrier = null;
  for (const q of qs) {
    if (!q.bytes.huge_result) continue;
    if (!firstCarrier) {
      firstCarrier = q;
      const tokens = Math.round(q.prompt_tokens * q.bytes.huge_result / q.bytes.text);
      if (tokens < 8192 || q.bytes.huge_result * 4 < q.bytes.text) throw new Error(`the huge tool result is not huge: ${tokens} tokens`);
    } else add(q, 'huge_tool_result');
  }
  // The scenario's own numbers must meet the thresholds it means to cross.
  for (const q of qs) {
    if (q.shows.includes('low_value') && (q.prompt_tokens < 8192 || q.usage.output_tokens > 10)) throw new Error(`request ${q.n} is not low-value`);
    const earlier = byConv.get(q.conversation).some((l) => l.n < q.n);
    for (const kind of ['cache_miss', 'retry', 'compaction'])
      if (q.shows.includes(kind) && !earlier) throw new Error(`request ${q.n}: ${kind} without an earlier request of its conversation`);
  }
  const kinds = {};
  for (const q of qs) for (const k of q.shows) (kinds[k] ||= []).push(q.n);
  return {
    agent: 'session_agent', tidy: a.tidy, cache_ttl_s: a.cacheTtl, model: a.model, title_model: a.titleModel,
    unused_tools: unused, turns: Math.max(...qs.map((q) => q.turn)), findings: kinds,
    requests: qs.map(({ raw, new_content, ...q }) => q),
  };
}

main().catch((e) => { console.error(`session_agent: ${e.stack || e}`); process.exit(1); });
