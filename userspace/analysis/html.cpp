// The HTML report: a fixed page (CSS and JavaScript below) around the analysis
// document. The page's script reads the embedded JSON and draws every chart
// and table itself, inserting text only through textContent. A Content
// Security Policy allows nothing but this page's own style and script (pinned
// by their SHA-256), so the page can load nothing from anywhere.
#include "analysis/html.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <string_view>

namespace tt::analysis {

namespace {

// ---- SHA-256 (FIPS 180-4), for the policy's hashes ----

uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

// The first 32 bits of the fractional part of p^(1/root), as FIPS 180-4 defines
// the constants (square roots of the first 8 primes, cube roots of the first 64).
uint32_t frac_bits(int p, int root) {
  long double r = root == 2 ? std::sqrt(static_cast<long double>(p)) : std::cbrt(static_cast<long double>(p));
  return static_cast<uint32_t>((r - std::floor(r)) * 4294967296.0L);
}

std::array<uint8_t, 32> sha256(std::string_view data) {
  static const auto k = [] {
    std::array<uint32_t, 64> out{};
    int found = 0;
    for (int p = 2; found < 64; ++p) {
      bool prime = true;
      for (int d = 2; d * d <= p; ++d) prime &= (p % d != 0);
      if (prime) out[found++] = frac_bits(p, 3);
    }
    return out;
  }();
  uint32_t h[8];
  for (int i = 0, found = 0, p = 2; found < 8; ++p) {
    bool prime = true;
    for (int d = 2; d * d <= p; ++d) prime &= (p % d != 0);
    if (prime) h[i++] = frac_bits(p, 2), ++found;
  }
  std::string m(data);
  uint64_t bits = static_cast<uint64_t>(data.size()) * 8;
  m.push_back(static_cast<char>(0x80));
  while (m.size() % 64 != 56) m.push_back('\0');
  for (int i = 7; i >= 0; --i) m.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));

  for (size_t off = 0; off < m.size(); off += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      const auto* b = reinterpret_cast<const unsigned char*>(m.data() + off + 4 * i);
      w[i] = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
    }
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  }
  std::array<uint8_t, 32> out{};
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 4; ++j) out[4 * i + j] = static_cast<uint8_t>(h[i] >> (24 - 8 * j));
  return out;
}

std::string base64(const uint8_t* p, size_t n) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = uint32_t{p[i]} << 16;
    if (i + 1 < n) v |= uint32_t{p[i + 1]} << 8;
    if (i + 2 < n) v |= p[i + 2];
    out += abc[(v >> 18) & 63];
    out += abc[(v >> 12) & 63];
    out += i + 1 < n ? abc[(v >> 6) & 63] : '=';
    out += i + 2 < n ? abc[v & 63] : '=';
  }
  return out;
}

// 'sha256-…' for a Content-Security-Policy source list.
std::string csp_hash(std::string_view text) {
  auto d = sha256(text);
  return "'sha256-" + base64(d.data(), d.size()) + "'";
}

// ---- the page ----

constexpr std::string_view kStyle = R"css(
:root {
  --bg: #f4f5f7; --panel: #ffffff; --ink: #1c2230; --muted: #5b6474; --line: #dfe3e9; --grid: #eceff3;
  --accent: #3d6fb6; --bad: #d1495b; --good: #2a9d8f;
  --cache_read: #2a9d8f; --cache_write: #e9b949; --input: #e4572e; --unchanged_prefix: #1d3557;
  --system: #7b5ea7; --tools: #c8578a; --history: #3d6fb6; --tool_results: #f29e4c; --new_content: #58b368;
  --prompt: #3d6fb6; --output: #e4572e; --cost: #3d6fb6; --waste: #d1495b;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #12151b; --panel: #1b2029; --ink: #e6e9ef; --muted: #9aa3b2; --line: #2c3340; --grid: #262c37;
          --unchanged_prefix: #a8c5ff; }
}
* { box-sizing: border-box; }
html { background: var(--bg); color: var(--ink); }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 20px 40px; }
header.top { margin-bottom: 18px; }
.brand { color: var(--muted); font-size: 12px; letter-spacing: .06em; text-transform: uppercase; }
h1 { font-size: 24px; margin: 4px 0 2px; overflow-wrap: anywhere; }
h2 { font-size: 17px; margin: 0 0 4px; }
h3 { font-size: 15px; margin: 0 0 2px; overflow-wrap: anywhere; }
.meta, .note, .facts { color: var(--muted); margin: 0 0 8px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; margin: 14px 0; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
.card .v { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .s { color: var(--muted); font-size: 12px; }
.card.waste .v { color: var(--bad); }
ul.verdict { margin: 6px 0 0; padding-left: 20px; }
ul.verdict li { margin: 2px 0; }
section.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 12px; padding: 16px 18px;
                margin: 16px 0; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.pair section.panel { margin: 0; }
@media (max-width: 900px) { .pair { grid-template-columns: 1fr; } }
.session { border-top: 1px solid var(--line); padding-top: 12px; margin-top: 12px; }
.session:first-of-type { border-top: 0; margin-top: 4px; }
ul.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 4px 0 6px; padding: 0; font-size: 12px;
            color: var(--muted); }
ul.legend li { display: flex; align-items: center; gap: 6px; }
svg.chart { display: block; width: 100%; height: auto; overflow: visible; }
svg.chart text { fill: var(--muted); font-size: 11px; }
svg.chart text.title { fill: var(--ink); font-size: 12px; }
svg.chart text.val { fill: var(--ink); font-size: 11px; font-weight: 600; }
svg.chart text.empty { font-size: 14px; }
.grid { stroke: var(--grid); stroke-width: 1; }
.axis { stroke: var(--line); stroke-width: 1; }
.hit { fill: transparent; }
.cursor { stroke: var(--ink); stroke-opacity: .35; stroke-width: 1; }
.s-cache_read { fill: var(--cache_read); } .s-cache_write { fill: var(--cache_write); } .s-input { fill: var(--input); }
.s-system { fill: var(--system); } .s-tools { fill: var(--tools); } .s-history { fill: var(--history); }
.s-tool_results { fill: var(--tool_results); } .s-new_content { fill: var(--new_content); }
.s-prompt { fill: var(--prompt); } .s-output { fill: var(--output); }
.s-cost { fill: var(--cost); } .s-waste { fill: var(--waste); }
.t-prompt { fill: var(--prompt) !important; } .t-output { fill: var(--output) !important; }
path.line { fill: none; stroke: var(--unchanged_prefix); stroke-width: 2; stroke-linejoin: round; }
path.line.thin { stroke-width: 1; stroke-opacity: .6; }
circle.pt { fill: var(--panel); stroke: var(--unchanged_prefix); stroke-width: 1.5; }
g[data-n]:hover rect, g[data-turn]:hover rect, g[data-key]:hover rect { fill-opacity: .8; }
table { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; position: sticky; top: 0; background: var(--panel); }
td.num, th.num { text-align: right; white-space: nowrap; }
.badge { display: inline-block; border-radius: 999px; padding: 1px 8px; font-size: 12px; white-space: nowrap;
         background: var(--grid); }
.badge.waste { background: #fbe3e6; color: #8c1d2b; }
@media (prefers-color-scheme: dark) { .badge.waste { background: #4a1f27; color: #ffc9d1; } }
details > summary { cursor: pointer; font-weight: 600; font-size: 17px; }
.scroll { max-height: 640px; overflow: auto; margin-top: 10px; }
.tip { position: fixed; z-index: 10; pointer-events: none; background: var(--ink); color: var(--panel); padding: 6px 9px;
       border-radius: 6px; font-size: 12px; white-space: pre-line; max-width: 420px; }
footer { color: var(--muted); font-size: 12px; text-align: center; margin-top: 24px; }
@media print { section.panel { break-inside: avoid; } .scroll { max-height: none; } }
)css";

constexpr std::string_view kScript = R"js(
(function () {
  'use strict';
  var started = performance.now();
  var body = document.body;
  var errors = [];
  function noteError(where, e) {
    errors.push(where + ': ' + (e && e.message ? e.message : String(e)));
    body.setAttribute('data-errors', errors.join(' | '));
  }
  window.addEventListener('error', function (e) { noteError('page', e.message); });
  var violations = 0;
  document.addEventListener('securitypolicyviolation', function (e) {
    violations++;
    body.setAttribute('data-csp-violations', String(violations));
  });

  // ---- building nodes: attributes with setAttribute, text with textContent only ----
  var SVGNS = 'http://www.w3.org/2000/svg';
  function attrs(node, a) {
    if (a) for (var k in a) if (a[k] !== undefined && a[k] !== null) node.setAttribute(k, String(a[k]));
    return node;
  }
  function h(tag, a, parent, text) {
    var e = attrs(document.createElement(tag), a);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (parent) parent.appendChild(e);
    return e;
  }
  function s(tag, a, parent, text) {
    var e = attrs(document.createElementNS(SVGNS, tag), a);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (parent) parent.appendChild(e);
    return e;
  }

  // ---- numbers as tokentap writes them ----
  function num(v) { v = Number(v); return isFinite(v) ? v : 0; }
  function list(v) { return Array.isArray(v) ? v : []; }
  function str(v) { return v === undefined || v === null ? '' : String(v); }
  // $1.23 from a dollar up, $0.0123 below, $0.000012 below a hundredth of a cent (sink::usd).
  function usd(v) {
    v = num(v);
    if (v === 0 || v >= 1) return '$' + v.toFixed(2);
    return '$' + v.toFixed(v < 0.0001 ? 6 : 4);
  }
  function thousands(v) { return String(Math.round(num(v))).replace(/\B(?=(\d{3})+(?!\d))/g, ','); }
  function plural(n, one, many) { return thousands(n) + ' ' + (num(n) === 1 ? one : many); }
  function short(v) {
    var a = Math.abs(v);
    function one(x) { var t = x.toFixed(1); return t.slice(-2) === '.0' ? t.slice(0, -2) : t; }
    if (a >= 1e9) return one(v / 1e9) + 'B';
    if (a >= 1e6) return one(v / 1e6) + 'M';
    if (a >= 1e3) return one(v / 1e3) + 'K';
    return String(Math.round(v * 100) / 100);
  }
  function tickUsd(v) {
    if (v === 0) return '$0';
    return '$' + v.toFixed(v >= 1 ? 2 : 8).replace(/0+$/, '').replace(/\.$/, '');
  }
  function percent(part, whole) {
    if (!(whole > 0)) return '0%';
    var p = 100 * part / whole;
    return (p > 0 && p < 10 ? p.toFixed(1) : p.toFixed(0)) + '%';
  }
  function utc(ns) {
    ns = num(ns);
    if (!ns) return '';
    return new Date(ns / 1e6).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
  }
  function clock(ns) { var t = utc(ns); return t ? t.slice(11, 19) : ''; }
  // [1,2,3,7] -> "1-3, 7" (at most `max` runs shown)
  function runs(ns, max) {
    ns = list(ns).map(num).sort(function (a, b) { return a - b; });
    var out = [], i = 0;
    while (i < ns.length) {
      var j = i;
      while (j + 1 < ns.length && ns[j + 1] === ns[j] + 1) j++;
      out.push(i === j ? String(ns[i]) : ns[i] + '\u2013' + ns[j]);
      i = j + 1;
    }
    if (max && out.length > max) return out.slice(0, max).join(', ') + ', \u2026 (' + plural(ns.length, 'request', 'requests') + ')';
    return out.join(', ');
  }
  function fx(v) { return Math.round(v * 100) / 100; }

  // ---- the data ----
  var A = {};
  try {
    A = JSON.parse(document.getElementById('tokentap-analysis').textContent) || {};
  } catch (e) { noteError('data', e); }
  var scope = A.scope || {}, totals = A.totals || {};
  var requests = list(A.requests), sessions = list(A.sessions), findings = list(A.findings);
  var models = list(A.by_model), waste = A.waste_by_category || {};
  var root = document.getElementById('report');
  var BIG = 800;  // above this many points a series is one path, not one element per point

  var KIND = {
    cache_miss: 'cache misses', cache_write_unread: 'cache writes never read', retry: 'retries',
    low_value: 'low-value calls', unused_tools: 'unused tool definitions', huge_tool_result: 'huge tool results carried',
    context_reset: 'context resets', compaction: 'compactions'
  };
  var CACHE = [
    {name: 'cache_read', label: 'cache read', get: function (r) { return num(r.cache_read_tokens); }},
    {name: 'cache_write', label: 'cache write', get: function (r) { return num(r.cache_write_tokens); }},
    {name: 'input', label: 'uncached input', get: function (r) { return num(r.input_tokens); }}
  ];
  var PREFIX = {name: 'unchanged_prefix', label: 'unchanged prefix (same as the previous request)',
                get: function (r) { return num(r.unchanged_prefix_tokens); }};
  function part(k) { return function (r) { return num((r.anatomy || {})[k]); }; }
  var PARTS = [
    {name: 'system', label: 'system prompt', get: part('system')},
    {name: 'tools', label: 'tool definitions', get: part('tools')},
    {name: 'history', label: 'history', get: part('history')},
    {name: 'tool_results', label: 'tool results', get: part('tool_results')},
    {name: 'new_content', label: 'new content', get: part('new_content')}
  ];

  function sessionName(i) {
    var ss = sessions[i];
    if (!ss) return 'no session';
    return (str(ss.harness) || 'unknown harness') + ' ' + (str(ss.session_id) || '(no session id)');
  }
  function requestTip(r, series, extra) {
    var lines = [];
    lines.push('request ' + num(r.n) + ' \u00b7 ' + sessionName(num(r.session)) + ' \u00b7 turn ' + num(r.turn) +
               ' \u00b7 ' + (str(r.role) || '?'));
    lines.push(str(r.model) + ' (' + str(r.provider) + ') \u00b7 ' + utc(r.start_unix_ns) + ' \u00b7 status ' + num(r.status));
    lines.push(series.map(function (f) { return f.label + ' ' + thousands(f.get(r)); }).join(' \u00b7 '));
    if (extra) lines.push(extra(r));
    lines.push('prompt ' + thousands(r.prompt_tokens) + ' \u00b7 output ' + thousands(r.output_tokens) + ' \u00b7 cost ' + usd(r.cost_usd));
    if (list(r.findings).length) lines.push('findings: ' + list(r.findings).join(', '));
    return lines.join('\n');
  }

  // ---- chart pieces ----
  var tip = h('div', {'class': 'tip', hidden: ''}, body);
  function hover(svg, box, count, band, textOf) {
    var cursor = s('line', {'class': 'cursor', x1: 0, x2: 0, y1: box.y, y2: box.y + box.h, visibility: 'hidden'}, svg);
    var hit = s('rect', {'class': 'hit', x: box.x, y: box.y, width: box.w, height: box.h}, svg);
    hit.addEventListener('mousemove', function (e) {
      var m = svg.getScreenCTM();
      if (!m) return;
      var p = svg.createSVGPoint();
      p.x = e.clientX; p.y = e.clientY;
      var x = p.matrixTransform(m.inverse()).x;
      var i = Math.max(0, Math.min(count - 1, Math.floor((x - box.x) / band)));
      var cx = fx(box.x + (i + 0.5) * band);
      attrs(cursor, {x1: cx, x2: cx, visibility: 'visible'});
      tip.textContent = textOf(i);
      tip.hidden = false;
      var left = e.clientX + 14, top = e.clientY + 14;
      if (left + tip.offsetWidth > window.innerWidth - 8) left = e.clientX - tip.offsetWidth - 14;
      if (top + tip.offsetHeight > window.innerHeight - 8) top = e.clientY - tip.offsetHeight - 14;
      tip.style.left = left + 'px';
      tip.style.top = top + 'px';
    });
    hit.addEventListener('mouseleave', function () { tip.hidden = true; attrs(cursor, {visibility: 'hidden'}); });
  }
  function niceStep(raw, integer) {
    if (!(raw > 0)) return 1;
    var mag = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / mag;
    var step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
    return integer ? Math.max(1, Math.round(step)) : step;
  }
  // ticks from 0 to a round top at or above max: about `count` of them, or exactly `count` steps (fixed)
  function ticks(max, count, integer, fixed) {
    var step = niceStep((max > 0 ? max : 1) / count, integer);
    var n = fixed ? count : Math.max(1, Math.ceil((max > 0 ? max : 1) / step - 1e-9));
    var out = [];
    for (var i = 0; i <= n; i++) out.push(i * step);
    return {top: n * step, ticks: out};
  }
  function yGrid(svg, box, t, fmt, title, side, cls) {
    var g = s('g', {'class': 'yaxis'}, svg);
    t.ticks.forEach(function (v) {
      var y = fx(box.y + box.h - v / t.top * box.h);
      if (side !== 'right') s('line', {'class': v ? 'grid' : 'axis', x1: box.x, x2: box.x + box.w, y1: y, y2: y}, g);
      var right = side === 'right';
      s('text', {x: right ? box.x + box.w + 8 : box.x - 8, y: y + 4, 'text-anchor': right ? 'start' : 'end', 'class': cls},
        g, fmt(v));
    });
    if (title) {
      var x = side === 'right' ? box.x + box.w + 58 : box.x - 56, y = box.y + box.h / 2;
      s('text', {'class': 'title ' + (cls || ''), x: x, y: y, 'text-anchor': 'middle',
                 transform: 'rotate(' + (side === 'right' ? 90 : -90) + ' ' + x + ' ' + y + ')'}, g, title);
    }
  }
  // x tick labels for points 0..count-1, about `max` of them, on multiples of 1, 2, 5, 10, ...
  function xLabels(svg, box, count, band, labelOf, title) {
    var step = 1, m = 1;
    for (;;) {
      if (count / m <= 14) { step = m; break; }
      if (count / (2 * m) <= 14) { step = 2 * m; break; }
      if (count / (5 * m) <= 14) { step = 5 * m; break; }
      m *= 10;
    }
    var g = s('g', {'class': 'xaxis'}, svg);
    for (var i = 0; i < count; i++) {
      if (i !== 0 && (i + 1) % step !== 0) continue;
      var x = fx(box.x + (i + 0.5) * band);
      s('line', {'class': 'axis', x1: x, x2: x, y1: box.y + box.h, y2: box.y + box.h + 4}, g);
      s('text', {x: x, y: box.y + box.h + 16, 'text-anchor': 'middle'}, g, labelOf(i));
    }
    if (title) s('text', {'class': 'title', x: box.x + box.w / 2, y: box.y + box.h + 36, 'text-anchor': 'middle'}, g, title);
  }
  function emptyChart(svg, w, text) {
    s('text', {'class': 'empty', x: w / 2, y: 34, 'text-anchor': 'middle'}, svg, text);
    attrs(svg, {viewBox: '0 0 ' + w + ' 60', 'data-mode': 'empty', 'data-drawn': 0});
  }
  function legend(parent, items) {
    var ul = h('ul', {'class': 'legend'}, parent);
    items.forEach(function (it) {
      var li = h('li', {'data-legend': it.name}, ul);
      var sw = s('svg', {width: 14, height: 14, viewBox: '0 0 14 14', 'aria-hidden': 'true'}, li);
      if (it.line) {
        s('path', {'class': 'line', d: 'M1 7H13'}, sw);
        s('circle', {'class': 'pt', cx: 7, cy: 7, r: 2.5}, sw);
      } else {
        s('rect', {'class': 's-' + it.name, x: 1, y: 1, width: 12, height: 12, rx: 2}, sw);
      }
      h('span', null, li, it.label);
    });
    return ul;
  }
  function newChart(parent, id, w, hgt, label) {
    return s('svg', {'class': 'chart', 'data-chart': id, viewBox: '0 0 ' + w + ' ' + hgt, role: 'img', 'aria-label': label},
             parent);
  }

  // Stacked bars per request (series bottom up), and optionally a line over them.
  function perRequest(parent, id, label, series, line, extraTip) {
    var W = 1160, H = 340, box = {x: 72, y: 12, w: W - 72 - 24, h: H - 12 - 50};
    var svg = newChart(parent, id, W, H, label);
    var N = requests.length;
    if (!N) return emptyChart(svg, W, 'No requests in this scope.');
    var max = 0;
    requests.forEach(function (r) {
      var sum = 0;
      series.forEach(function (f) { sum += f.get(r); });
      max = Math.max(max, sum, line ? line.get(r) : 0);
    });
    var t = ticks(max, 5, true);
    var y = function (v) { return box.y + box.h - v / t.top * box.h; };
    yGrid(svg, box, t, short, 'tokens');
    var band = box.w / N, bw = band > 4 ? band * 0.78 : band, off = (band - bw) / 2;
    var big = N > BIG;
    var bars = s('g', {'class': 'bars'}, svg);
    if (!big) {
      requests.forEach(function (r, i) {
        var g = s('g', {'data-n': num(r.n)}, bars);
        s('title', null, g, requestTip(r, series, extraTip));
        var base = 0;
        series.forEach(function (f) {
          var v = f.get(r), y1 = y(base + v), y0 = y(base);
          s('rect', {'class': 's-' + f.name, x: fx(box.x + i * band + off), y: fx(y1), width: fx(bw), height: fx(y0 - y1),
                     'data-series': f.name, 'data-value': v}, g);
          base += v;
        });
      });
    } else {
      // each series one band: its top edge left to right, its bottom edge back, a step per request
      var base = requests.map(function () { return 0; });
      series.forEach(function (f) {
        var top = [], bottom = [], sum = 0;
        requests.forEach(function (r, i) {
          var v = f.get(r), x0 = fx(box.x + i * band), x1 = fx(box.x + (i + 1) * band);
          sum += v;
          top.push(x0 + ' ' + fx(y(base[i] + v)), x1 + ' ' + fx(y(base[i] + v)));
          bottom.push(x1 + ' ' + fx(y(base[i])), x0 + ' ' + fx(y(base[i])));
          base[i] += v;
        });
        var d = 'M' + top.join('L') + 'L' + bottom.reverse().join('L') + 'Z';
        s('path', {'class': 's-' + f.name, d: d, 'data-series': f.name, 'data-points': N, 'data-sum': sum}, bars);
      });
    }
    if (line) {
      // broken where the session changes: the prefix is always against the same conversation
      var d = [], sum = 0;
      requests.forEach(function (r, i) {
        var v = line.get(r);
        sum += v;
        var cont = i > 0 && num(requests[i - 1].session) === num(r.session);
        d.push((cont ? 'L' : 'M') + fx(box.x + (i + 0.5) * band) + ' ' + fx(y(v)));
      });
      s('path', {'class': big ? 'line thin' : 'line', d: d.join(''), 'data-series': line.name, 'data-points': N,
                 'data-sum': sum}, svg);
      if (!big) {
        var pts = s('g', {'class': 'points'}, svg), rad = Math.max(1.5, Math.min(3.5, band / 4));
        requests.forEach(function (r, i) {
          var c = s('circle', {'class': 'pt', cx: fx(box.x + (i + 0.5) * band), cy: fx(y(line.get(r))), r: fx(rad),
                               'data-n': num(r.n), 'data-series': line.name, 'data-value': line.get(r)}, pts);
          s('title', null, c, 'request ' + num(r.n) + ': ' + thousands(line.get(r)) + ' tokens unchanged from the previous request');
        });
      }
    }
    xLabels(svg, box, N, band, function (i) { return String(num(requests[i].n)); }, 'request (in start order)');
    if (big) hover(svg, box, N, band, function (i) { return requestTip(requests[i], series, extraTip); });
    attrs(svg, {'data-mode': big ? 'paths' : 'bars', 'data-drawn': N});
  }

  // Prompt and output tokens per turn of one session (two scales), the turn's cost above.
  function turnsChart(parent, ss, si) {
    var turns = list(ss.turns), N = turns.length;
    var W = 1160, H = 300, box = {x: 72, y: 26, w: W - 72 - 78, h: H - 26 - 56};
    var svg = newChart(parent, 'turns', W, H, 'tokens and cost per turn of ' + sessionName(si));
    svg.setAttribute('data-session', si);
    if (!N) return emptyChart(svg, W, 'No turns in this session.');
    var maxP = 0, maxO = 0;
    turns.forEach(function (u) { maxP = Math.max(maxP, num(u.prompt_tokens)); maxO = Math.max(maxO, num(u.output_tokens)); });
    var tp = ticks(maxP, 5, true), to = ticks(maxO, tp.ticks.length - 1, true, true);
    var yp = function (v) { return box.y + box.h - v / tp.top * box.h; };
    var yo = function (v) { return box.y + box.h - v / to.top * box.h; };
    yGrid(svg, box, tp, short, 'prompt tokens', 'left', 't-prompt');
    yGrid(svg, box, to, short, 'output tokens', 'right', 't-output');
    var band = box.w / N, inner = band > 6 ? Math.min(band * 0.7, 180) : band, bw = inner / 2, off = (band - inner) / 2;
    var big = N > BIG / 2;
    function counts(u) {
      var parts = [];
      if (num(u.main)) parts.push(num(u.main) + ' main');
      if (num(u.subagent)) parts.push(num(u.subagent) + ' subagent');
      if (num(u.side)) parts.push(num(u.side) + ' side');
      return parts.join(' \u00b7 ');
    }
    function turnTip(u) {
      return 'turn ' + num(u.turn) + ': ' + plural(list(u.requests).length, 'request', 'requests') + ' (' + counts(u) + ')\n' +
             'requests ' + runs(u.requests, 12) + '\nprompt ' + thousands(u.prompt_tokens) + ' \u00b7 output ' +
             thousands(u.output_tokens) + ' \u00b7 cost ' + usd(u.cost_usd);
    }
    var bars = s('g', {'class': 'bars'}, svg);
    if (!big) {
      turns.forEach(function (u, i) {
        var g = s('g', {'data-turn': num(u.turn), 'data-main': num(u.main), 'data-subagent': num(u.subagent),
                        'data-side': num(u.side), 'data-cost': num(u.cost_usd)}, bars);
        s('title', null, g, turnTip(u));
        var x0 = box.x + i * band + off, p = num(u.prompt_tokens), o = num(u.output_tokens);
        s('rect', {'class': 's-prompt', x: fx(x0), y: fx(yp(p)), width: fx(bw), height: fx(box.y + box.h - yp(p)),
                   'data-series': 'prompt', 'data-value': p}, g);
        s('rect', {'class': 's-output', x: fx(x0 + bw), y: fx(yo(o)), width: fx(bw), height: fx(box.y + box.h - yo(o)),
                   'data-series': 'output', 'data-value': o}, g);
        var cx = fx(box.x + (i + 0.5) * band), top = Math.min(yp(p), yo(o)) - 6;
        if (band >= 44) {
          s('text', {'class': 'val', x: cx, y: fx(top), 'text-anchor': 'middle', 'data-series': 'cost',
                     'data-value': num(u.cost_usd)}, g, usd(u.cost_usd));
        } else if (band >= 12) {
          s('text', {'class': 'val', x: cx + 4, y: fx(top), transform: 'rotate(-90 ' + cx + ' ' + fx(top) + ')',
                     'data-series': 'cost', 'data-value': num(u.cost_usd)}, g, usd(u.cost_usd));
        }
        if (band >= 130) s('text', {x: cx, y: box.y + box.h + 30, 'text-anchor': 'middle', 'data-series': 'counts'}, g, counts(u));
      });
    } else {
      [['prompt', 'prompt_tokens', yp, 0], ['output', 'output_tokens', yo, bw]].forEach(function (sr) {
        var d = [], sum = 0;
        turns.forEach(function (u, i) {
          var v = num(u[sr[1]]);
          sum += v;
          if (v > 0) d.push('M' + fx(box.x + i * band + off + sr[3]) + ' ' + fx(sr[2](v)) + 'h' + fx(bw) + 'V' +
                            fx(box.y + box.h) + 'h' + fx(-bw) + 'Z');
        });
        s('path', {'class': 's-' + sr[0], d: d.join(''), 'data-series': sr[0], 'data-points': N, 'data-sum': sum}, bars);
      });
      hover(svg, box, N, band, function (i) { return turnTip(turns[i]); });
    }
    xLabels(svg, box, N, band, function (i) { return String(num(turns[i].turn)); }, band >= 130 ? '' : 'turn');
    attrs(svg, {'data-mode': big ? 'paths' : 'bars', 'data-drawn': N});
  }

  // One horizontal bar per row, in dollars.
  function dollarBars(parent, id, label, rows, cls) {
    var W = 560, rowH = 30, box = {x: 190, y: 8, w: W - 190 - 112, h: Math.max(1, rows.length) * rowH};
    var H = box.y + box.h + 40;
    var svg = newChart(parent, id, W, H, label);
    if (!rows.length) return emptyChart(svg, W, 'Nothing to show.');
    var max = 0;
    rows.forEach(function (r) { max = Math.max(max, r.value); });
    var t = ticks(max, 4, false);
    var x = function (v) { return box.x + v / t.top * box.w; };
    var g = s('g', {'class': 'xaxis'}, svg);
    t.ticks.forEach(function (v) {
      var xx = fx(x(v));
      s('line', {'class': v ? 'grid' : 'axis', x1: xx, x2: xx, y1: box.y, y2: box.y + box.h}, g);
      s('text', {x: xx, y: box.y + box.h + 16, 'text-anchor': 'middle'}, g, tickUsd(v));
    });
    rows.forEach(function (r, i) {
      var row = s('g', {'data-key': r.key, 'data-value': r.value}, svg), y = box.y + i * rowH;
      s('title', null, row, r.tip);
      var name = r.label.length > 30 ? r.label.slice(0, 29) + '\u2026' : r.label;
      s('text', {x: box.x - 8, y: y + rowH / 2 + 4, 'text-anchor': 'end', 'class': 'title'}, row, name);
      var wdt = Math.max(r.value > 0 ? 1 : 0, x(r.value) - box.x);
      s('rect', {'class': cls, x: box.x, y: fx(y + 5), width: fx(wdt), height: rowH - 10, rx: 3, 'data-series': id,
                 'data-value': r.value}, row);
      s('text', {'class': 'val', x: fx(box.x + wdt + 6), y: y + rowH / 2 + 4, 'data-role': 'value'}, row, usd(r.value));
    });
    attrs(svg, {'data-mode': 'bars', 'data-drawn': rows.length});
  }

  function guard(name, parent, fn) {
    try { fn(); } catch (e) {
      noteError(name, e);
      h('p', {'class': 'note'}, parent, 'This part could not be drawn: ' + (e && e.message ? e.message : String(e)));
    }
  }
  function section(id, title, note) {
    var sec = h('section', {'class': 'panel', id: id}, root);
    h('h2', null, sec, title);
    if (note) h('p', {'class': 'note'}, sec, note);
    return sec;
  }

  // ---- header ----
  var scopeText = {run: 'run', session: 'session', range: 'time range', files: 'record files'}[str(scope.kind)] || str(scope.kind);
  document.title = 'tokentap: ' + (str(scope.label) || scopeText || 'analysis');
  var head = h('header', {'class': 'top'}, root);
  h('div', {'class': 'brand'}, head, 'tokentap \u00b7 where the tokens went');
  h('h1', {'data-figure': 'label'}, head, str(scope.label) || ('This ' + (scopeText || 'scope')));
  var meta = [];
  if (scopeText) meta.push(scopeText);
  if (str(scope.run_id)) meta.push('run ' + str(scope.run_id));
  if (num(scope.since_unix_ns) || num(scope.until_unix_ns))
    meta.push((utc(scope.since_unix_ns) || 'the start') + ' to ' + (utc(scope.until_unix_ns) || 'the end'));
  else if (requests.length)
    meta.push('requests from ' + utc(requests[0].start_unix_ns) + ' to ' + utc(requests[requests.length - 1].start_unix_ns));
  h('p', {'class': 'meta', 'data-figure': 'scope'}, head, meta.join(' \u00b7 '));
  if (A.version !== undefined && num(A.version) !== 1)
    h('p', {'class': 'note'}, head, 'This page draws analysis version 1; the data is version ' + str(A.version) + '.');

  var cards = h('div', {'class': 'cards'}, head);
  function card(key, value, text, label, sub, cls) {
    var c = h('div', {'class': 'card' + (cls ? ' ' + cls : ''), 'data-figure': key, 'data-value': value}, cards);
    h('div', {'class': 'v'}, c, text);
    h('div', {'class': 'k'}, c, label);
    if (sub) h('div', {'class': 's'}, c, sub);
  }
  var turnCount = 0;
  sessions.forEach(function (ss) { turnCount += list(ss.turns).length; });
  card('cost_usd', num(totals.cost_usd), usd(totals.cost_usd), 'total cost',
       num(totals.unpriced_requests) ? plural(totals.unpriced_requests, 'request', 'requests') + ' not priced'
                                     : num(totals.requests) ? 'every request priced' : 'no requests');
  card('waste_usd', num(totals.waste_usd), usd(totals.waste_usd), 'avoidable', percent(num(totals.waste_usd), num(totals.cost_usd)) +
       ' of the cost', num(totals.waste_usd) > 0 ? 'waste' : '');
  card('requests', num(totals.requests), thousands(totals.requests), 'requests',
       plural(sessions.length, 'session', 'sessions') + ', ' + plural(turnCount, 'turn', 'turns'));
  card('prompt_tokens', num(totals.prompt_tokens), short(num(totals.prompt_tokens)), 'prompt tokens',
       percent(num(totals.cache_read_tokens), num(totals.prompt_tokens)) + ' read from cache');
  card('output_tokens', num(totals.output_tokens), short(num(totals.output_tokens)), 'output tokens',
       thousands(totals.output_tokens) + ' tokens');
  var verdict = h('ul', {'class': 'verdict', 'data-figure': 'verdict'}, head);
  list(A.verdict).forEach(function (v) { h('li', null, verdict, v); });

  // ---- per request ----
  var sec = section('context', 'Context size and cache hits per request',
                    'Each bar is one request\u2019s prompt: what the provider read from its cache, what it wrote to it, and ' +
                    'what it took as uncached input. The line is the prompt\u2019s prefix unchanged from the previous request ' +
                    'of its conversation: where it is high and the bar is not green, the cache was missed.');
  guard('context', sec, function () {
    legend(sec, CACHE.concat([{name: PREFIX.name, label: PREFIX.label, line: true}]));
    perRequest(sec, 'context', 'prompt tokens per request by cache use', CACHE, PREFIX, function (r) {
      return 'unchanged prefix ' + thousands(PREFIX.get(r));
    });
  });
  sec = section('anatomy', 'Context anatomy per request',
                'What each prompt was made of, in tokens (scaled to the provider\u2019s count): the system prompt, the tool ' +
                'definitions, the conversation history, tool results and the newest content.');
  guard('anatomy', sec, function () {
    legend(sec, PARTS);
    perRequest(sec, 'anatomy', 'prompt tokens per request by part', PARTS, null);
  });

  // ---- per turn ----
  sec = section('turns', 'Tokens and cost per turn',
                'Per session, each user turn with every call it led to (tool rounds, subagents, side calls): its prompt ' +
                'tokens (left scale), output tokens (right scale) and cost.');
  guard('turns', sec, function () {
    if (!sessions.length) h('p', {'class': 'note'}, sec, 'No sessions in this scope.');
    var LIMIT = 24, order = sessions.map(function (ss, i) { return i; });
    if (sessions.length > LIMIT) {
      order.sort(function (a, b) { return num(sessions[b].cost_usd) - num(sessions[a].cost_usd); });
      order = order.slice(0, LIMIT).sort(function (a, b) { return a - b; });
    }
    order.forEach(function (si) {
      var ss = sessions[si];
      var box = h('div', {'class': 'session', 'data-session': si}, sec);
      h('h3', null, box, sessionName(si));
      h('p', {'class': 'facts'}, box, plural(ss.requests, 'request', 'requests') + ' \u00b7 ' +
        plural(list(ss.turns).length, 'turn', 'turns') + ' \u00b7 cost ' + usd(ss.cost_usd) + ' \u00b7 avoidable ' + usd(ss.waste_usd));
      if (list(ss.verdict).length) {
        var ul = h('ul', {'class': 'verdict'}, box);
        list(ss.verdict).forEach(function (v) { h('li', null, ul, v); });
      }
      legend(box, [{name: 'prompt', label: 'prompt tokens'}, {name: 'output', label: 'output tokens'}]);
      turnsChart(box, ss, si);
    });
    if (sessions.length > order.length)
      h('p', {'class': 'note'}, sec, 'The ' + order.length + ' costliest sessions are drawn; ' + (sessions.length - order.length) +
        ' more are in the requests table.');
  });

  // ---- cost by model and by finding ----
  var pair = h('div', {'class': 'pair'}, root);
  sec = h('section', {'class': 'panel', id: 'models'}, pair);
  h('h2', null, sec, 'Cost by model');
  guard('models', sec, function () {
    var seen = {};
    models.forEach(function (m) { seen[str(m.model)] = (seen[str(m.model)] || 0) + 1; });
    dollarBars(sec, 'models', 'cost by model', models.map(function (m) {
      // the provider too where one model is billed by several (anthropic, aws.bedrock, ...)
      var name = (str(m.model) || '(no model)') + (seen[str(m.model)] > 1 ? ' (' + str(m.provider) + ')' : '');
      return {key: str(m.provider) + '/' + str(m.model), label: name, value: num(m.cost_usd),
              tip: str(m.model) + ' (' + str(m.provider) + '): ' + usd(m.cost_usd) + ', ' +
                   plural(m.requests, 'request', 'requests') + ', ' + thousands(m.tokens) + ' tokens'};
    }), 's-cost');
  });
  sec = h('section', {'class': 'panel', id: 'waste'}, pair);
  h('h2', null, sec, 'Avoidable cost by finding');
  guard('waste', sec, function () {
    var rows = Object.keys(waste).map(function (k) {
      var n = 0;
      findings.forEach(function (f) { if (f.kind === k) n++; });
      return {key: k, label: KIND[k] || k, value: num(waste[k]),
              tip: (KIND[k] || k) + ': ' + usd(waste[k]) + ' (' + plural(n, 'finding', 'findings') + ')'};
    });
    rows.sort(function (a, b) { return b.value - a.value; });
    dollarBars(sec, 'waste', 'avoidable cost by finding', rows, 's-waste');
  });

  // ---- findings ----
  sec = section('findings', 'Findings', findings.length ? 'Each with the requests that show it (numbered as in the charts).' : '');
  guard('findings', sec, function () {
    if (!findings.length) { h('p', {'class': 'note', 'data-empty': 'findings'}, sec, 'No findings.'); return; }
    var wrap = h('div', {'class': 'scroll'}, sec);
    var table = h('table', {'data-table': 'findings'}, wrap);
    var tr = h('tr', null, h('thead', null, table));
    [['finding'], ['requests'], ['tokens', 'num'], ['avoidable', 'num'], ['what happened']].forEach(function (c) {
      h('th', {'class': c[1]}, tr, c[0]);
    });
    var tb = h('tbody', null, table);
    findings.forEach(function (f) {
      var row = h('tr', {'data-kind': str(f.kind), 'data-reason': str(f.reason), 'data-tokens': num(f.tokens),
                         'data-waste': num(f.waste_usd), 'data-requests': list(f.requests).join(',')}, tb);
      var c = h('td', null, row);
      h('span', {'class': 'badge' + (num(f.waste_usd) > 0 ? ' waste' : '')}, c,
        str(f.kind).replace(/_/g, ' ') + (str(f.reason) ? ': ' + str(f.reason).replace(/_/g, ' ') : ''));
      h('td', null, row, runs(f.requests, 10));
      h('td', {'class': 'num'}, row, thousands(f.tokens));
      h('td', {'class': 'num'}, row, usd(f.waste_usd));
      h('td', null, row, str(f.text));
    });
  });

  // ---- requests ----
  sec = h('section', {'class': 'panel', id: 'requests'}, root);
  guard('requests', sec, function () {
    var det = h('details', null, sec);
    h('summary', null, det, requests.length ? 'All ' + plural(requests.length, 'request', 'requests') : 'No requests');
    var cols = [['#', 'num'], ['start (UTC)'], ['session'], ['turn', 'num'], ['role'], ['model'], ['status', 'num'],
                ['uncached', 'num'], ['cache read', 'num'], ['cache write', 'num'], ['output', 'num'],
                ['unchanged prefix', 'num'], ['cost', 'num'], ['findings']];
    var built = false;
    function build() {
      if (built) return;
      built = true;
      var wrap = h('div', {'class': 'scroll'}, det);
      var table = h('table', {'data-table': 'requests'}, wrap);
      var tr = h('tr', null, h('thead', null, table));
      cols.forEach(function (c) { h('th', {'class': c[1]}, tr, c[0]); });
      var tb = h('tbody', null, table), frag = document.createDocumentFragment();
      requests.forEach(function (r) {
        var row = h('tr', {'data-n': num(r.n)}, frag);
        [[num(r.n), 1], [clock(r.start_unix_ns)], [sessionName(num(r.session))], [num(r.turn), 1], [str(r.role)],
         [str(r.model)], [num(r.status), 1], [thousands(r.input_tokens), 1], [thousands(r.cache_read_tokens), 1],
         [thousands(r.cache_write_tokens), 1], [thousands(r.output_tokens), 1], [thousands(r.unchanged_prefix_tokens), 1],
         [usd(r.cost_usd), 1], [list(r.findings).join(', ')]].forEach(function (c) {
          h('td', c[1] ? {'class': 'num'} : null, row, c[0]);
        });
      });
      tb.appendChild(frag);
    }
    // a long table is built when first opened
    if (requests.length <= 2000) build();
    else det.addEventListener('toggle', function () { if (det.open) build(); });
  });

  h('footer', null, root, 'Drawn by this file from the analysis embedded in it (analysis version ' + str(A.version) +
    '); it loads nothing from the network. tokentap \u00b7 docs/analysis.md');
  body.setAttribute('data-render-ms', String(Math.round(performance.now() - started)));
  body.setAttribute('data-ready', errors.length ? 'errors' : 'yes');
})();
)js";

}  // namespace

std::string json_for_script(const nlohmann::ordered_json& analysis) {
  // Invalid UTF-8 from the wire (a model name) becomes U+FFFD rather than an exception.
  std::string raw = analysis.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  std::string out;
  out.reserve(raw.size() + raw.size() / 16);
  for (char c : raw) {
    // Only inside strings can these occur; as escapes they are the same string to JSON.parse.
    if (c == '<') out += "\\u003c";
    else if (c == '>') out += "\\u003e";
    else if (c == '&') out += "\\u0026";
    else out += c;
  }
  return out;
}

std::string render_html(const nlohmann::ordered_json& analysis) {
  std::string policy = "default-src 'none'; script-src " + csp_hash(kScript) + "; style-src " + csp_hash(kStyle) +
                       "; img-src 'none'; base-uri 'none'; form-action 'none'";
  std::string page;
  page.reserve(kStyle.size() + kScript.size() + 4096);
  page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  page += "<meta http-equiv=\"Content-Security-Policy\" content=\"" + policy + "\">\n";
  page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  page += "<meta name=\"generator\" content=\"tokentap\">\n<title>tokentap report</title>\n<style>";
  page += kStyle;
  page += "</style>\n</head>\n<body>\n<main id=\"report\"></main>\n";
  page += "<noscript><p>This report draws its charts with JavaScript; the analysis is in the page as JSON.</p></noscript>\n";
  page += "<script type=\"application/json\" id=\"tokentap-analysis\">";
  page += json_for_script(analysis);
  page += "</script>\n<script>";
  page += kScript;
  page += "</script>\n</body>\n</html>\n";
  return page;
}

}  // namespace tt::analysis
