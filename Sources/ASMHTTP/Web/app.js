'use strict';

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

const TOKEN_KEY = 'asm.token';
const RENDER_CAP = 4000;          // events kept in the page before older ones fold behind "show earlier"
const FRAME_BUDGET_MS = 6;        // time spent applying events per animation frame
const PATCH_LINES = 1500;         // patch lines shown before "show all"
const DELTA_WEIGHT = 0.2;         // a streamed delta is a small inline element: a fifth of a row against the cap
const OUTPUT_INLINE = 600;        // tool output longer than this starts collapsed
const STALL_MS = 45000;           // no byte (not even a heartbeat) for this long: reconnect
const SIDEBAR_PAGE = 100;
const WATCH_TYPES = [
  'session.created', 'session.activated', 'session.completed', 'session.failed', 'session.archived',
  'run.requested', 'run.started', 'run.completed', 'run.failed', 'run.cancelled', 'token_usage.updated',
].join(',');
const TERMINAL_STATUS = new Set(['completed', 'failed', 'cancelled']);

// ---------------------------------------------------------------------------
// DOM and formatting helpers
// ---------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function badge(status, testid) {
  const node = el('span');
  setBadge(node, status);
  if (testid) node.dataset.testid = testid;
  return node;
}

function setBadge(node, status) {
  node.className = `badge s-${String(status).replace(/[^a-z0-9_-]+/gi, '-')}`;
  node.textContent = status;
}

function usd(nano) {
  if (nano === null || nano === undefined) return '';
  const dollars = nano / 1e9;
  if (dollars === 0) return '$0.00';
  return `$${dollars.toFixed(dollars < 1 ? 4 : 2)}`;
}

function count(n) {
  if (n === null || n === undefined) return '0';
  if (n < 1000) return String(n);
  if (n < 1e6) return `${(n / 1000).toFixed(n < 1e4 ? 1 : 0)}k`;
  return `${(n / 1e6).toFixed(1)}M`;
}

function shortId(id) {
  return id && id.length > 14 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id || '';
}

const pad = (n) => String(n).padStart(2, '0');

function clockTime(us) {
  const d = new Date(us / 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// Times come as microseconds since the epoch (or ISO text); answers milliseconds.
function millis(value) {
  if (typeof value === 'number') return value > 1e14 ? value / 1000 : value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return millis(Number(value));
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? null : parsed;
}

function relativeTime(value) {
  if (value === undefined || value === null) return '';
  const then = millis(value);
  if (then === null) return '';
  const seconds = Math.round((Date.now() - then) / 1000);
  if (seconds < 10) return 'just now';
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  const d = new Date(then);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function duration(ms) {
  if (ms === null || ms === undefined || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60000);
  return `${minutes}m ${Math.floor((ms % 60000) / 1000)}s`;
}

function compactJSON(value, max = 240) {
  let text;
  try { text = JSON.stringify(value); } catch { text = String(value); }
  if (text === undefined) text = '';
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function inputSummary(input) {
  if (input === null || input === undefined) return '';
  if (typeof input === 'string') return input;
  for (const key of ['command', 'cmd', 'file_path', 'path', 'url', 'query', 'pattern', 'prompt']) {
    const value = input[key];
    if (typeof value === 'string' && value) return value;
    if (Array.isArray(value) && value.every((part) => typeof part === 'string')) return value.join(' ');
  }
  return compactJSON(input, 200);
}

function tokensText(t) {
  if (!t) return '';
  const parts = [`${count(t.input)} in`, `${count(t.output)} out`];
  if (t.cache_read) parts.push(`${count(t.cache_read)} cache read`);
  if (t.cache_write) parts.push(`${count(t.cache_write)} cache write`);
  return parts.join(' · ');
}

function newKey() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---------------------------------------------------------------------------
// API calls: bearer token on each, a 401 returns to the token form
// ---------------------------------------------------------------------------

let token = sessionStorage.getItem(TOKEN_KEY) || '';

class Unauthorized extends Error {}

class APIError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function api(path, { method = 'GET', body, headers = {} } = {}) {
  const init = { method, cache: 'no-store', headers: { Authorization: `Bearer ${token}`, ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    signOut('The server refused the token.');
    throw new Unauthorized('unauthorized');
  }
  if (response.status === 304) return { notModified: true };
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    throw new APIError((data && data.error) || `${response.status} ${response.statusText}`, response.status);
  }
  if (data && typeof data === 'object') {
    const etag = response.headers.get('ETag');
    if (etag) Object.defineProperty(data, 'etag', { value: etag });
  }
  return data;
}

// ---------------------------------------------------------------------------
// Server-sent events over fetch: frames parsed by hand, resumed by Last-Event-ID
// ---------------------------------------------------------------------------

class SSEParser {
  constructor(onFrame, onRetry) {
    this.onFrame = onFrame;
    this.onRetry = onRetry;
    this.buffer = '';
    this.scanned = 0;
    this.heldCR = false;
    this.resetFrame();
  }

  resetFrame() {
    this.data = [];
    this.event = '';
    this.id = undefined;
  }

  push(chunk) {
    if (this.heldCR) { chunk = `\r${chunk}`; this.heldCR = false; }
    if (chunk.endsWith('\r')) { chunk = chunk.slice(0, -1); this.heldCR = true; }
    if (chunk.includes('\r')) chunk = chunk.replace(/\r\n?/g, '\n');
    this.buffer += chunk;
    let start = 0;
    let end = this.buffer.indexOf('\n', this.scanned);
    while (end >= 0) {
      this.line(this.buffer.slice(start, end));
      start = end + 1;
      end = this.buffer.indexOf('\n', start);
    }
    this.buffer = start > 0 ? this.buffer.slice(start) : this.buffer;
    this.scanned = this.buffer.length;
  }

  line(line) {
    if (line === '') { this.dispatch(); return; }
    if (line[0] === ':') return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id') { if (!value.includes('\0')) this.id = value; }
    else if (field === 'retry') { if (/^\d+$/.test(value)) this.onRetry(Number(value)); }
  }

  dispatch() {
    if (this.data.length > 0) {
      this.onFrame({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
    }
    this.resetFrame();
  }
}

const streams = new Set();

class EventStream {
  // params: the stream's filter; after: the sequence to start after; onEvent(event) for each new one.
  constructor(params, after, onEvent) {
    this.params = params;
    this.start = after;
    this.lastId = after;
    this.onEvent = onEvent;
    this.retry = 2000;
    this.failures = 0;
    this.state = 'connecting';
    this.stopped = false;
    this.lastError = '';
    streams.add(this);
  }

  open() {
    this.loop();
    updateConnection();
    return this;
  }

  close() {
    this.stopped = true;
    if (this.attempt) this.attempt.abort();
    if (this.wake) this.wake();
    streams.delete(this);
    updateConnection();
  }

  setState(state) {
    this.state = state;
    updateConnection();
  }

  async loop() {
    while (!this.stopped) {
      try {
        await this.connect();
        this.lastError = 'the stream ended';
      } catch (error) {
        if (error instanceof Unauthorized) { this.close(); return; }
        this.lastError = error && error.message ? error.message : String(error);
      }
      if (this.stopped) return;
      this.failures += 1;
      this.setState(this.failures >= 4 || !navigator.onLine ? 'offline' : 'reconnecting');
      await this.pause(this.backoff());
    }
  }

  backoff() {
    const base = Math.max(250, this.retry);
    const grown = Math.min(30000, base * 2 ** Math.max(0, this.failures - 1));
    return grown * (0.8 + Math.random() * 0.4);
  }

  pause(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() { clearTimeout(timer); resolve(); }
      this.wake = done;
    });
  }

  async connect() {
    const attempt = new AbortController();
    this.attempt = attempt;
    const headers = { Authorization: `Bearer ${token}` };
    if (this.lastId > this.start) headers['Last-Event-ID'] = String(this.lastId);
    const query = new URLSearchParams({ ...this.params, after: String(this.start) });
    let heard = Date.now();
    const watchdog = setInterval(() => { if (Date.now() - heard > STALL_MS) attempt.abort(); }, 5000);
    try {
      const response = await fetch(`/v1/stream?${query}`, { headers, signal: attempt.signal, cache: 'no-store' });
      if (response.status === 401) {
        signOut('The server refused the token.');
        throw new Unauthorized('unauthorized');
      }
      if (!response.ok || !response.body) {
        let message = `${response.status} ${response.statusText}`;
        try { message = (await response.json()).error || message; } catch { /* not JSON */ }
        throw new Error(message);
      }
      this.failures = 0;
      this.setState('live');
      const parser = new SSEParser((frame) => this.frame(frame), (ms) => { this.retry = ms; });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        heard = Date.now();
        parser.push(value);
      }
    } finally {
      clearInterval(watchdog);
    }
  }

  frame(frame) {
    if (frame.id === undefined || !/^\d+$/.test(frame.id)) return;
    const sequence = Number(frame.id);
    if (sequence <= this.lastId) return;
    let event;
    try { event = JSON.parse(frame.data); } catch { return; }
    this.onEvent(event);
    this.lastId = sequence;
  }
}

function updateConnection() {
  const node = $('connection');
  const states = [...streams].map((s) => s.state);
  let state = 'offline';
  let label = token ? 'Offline' : 'Not connected';
  if (states.length > 0) {
    if (states.includes('offline') || !navigator.onLine) { state = 'offline'; label = 'Offline · retrying'; }
    else if (states.includes('reconnecting')) { state = 'reconnecting'; label = 'Reconnecting…'; }
    else if (states.includes('connecting')) { state = 'reconnecting'; label = 'Connecting…'; }
    else { state = 'live'; label = 'Live'; }
  }
  node.dataset.state = state;
  node.querySelector('.connection-label').textContent = label;
  const errors = [...streams].map((s) => s.lastError).filter(Boolean);
  node.title = state === 'live' ? 'Streaming events from the log' : errors[0] || '';
}

function wakeStreams() {
  for (const stream of streams) if (stream.wake) stream.wake();
}

// ---------------------------------------------------------------------------
// Token form
// ---------------------------------------------------------------------------

function showLogin(message) {
  $('app').hidden = true;
  $('sign-out').hidden = true;
  $('login').hidden = false;
  const error = $('token-error');
  error.hidden = !message;
  error.textContent = message || '';
  $('token-input').value = '';
  $('token-input').focus();
  updateConnection();
}

function signOut(message) {
  token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  for (const stream of [...streams]) stream.close();
  watch = null;
  closeSession();
  showLogin(message);
}

async function submitToken(event) {
  event.preventDefault();
  const value = $('token-input').value.trim();
  if (!value) return;
  const button = $('token-submit');
  button.disabled = true;
  try {
    const response = await fetch('/v1/status', { headers: { Authorization: `Bearer ${value}` }, cache: 'no-store' });
    if (response.status === 401) {
      showLogin('That token was refused.');
      return;
    }
    token = value;
    sessionStorage.setItem(TOKEN_KEY, value);
    await startApp();
  } catch (error) {
    showLogin(`The server did not answer: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// Sessions list: fetched, refreshed when the log says sessions changed
// ---------------------------------------------------------------------------

let watch = null;
let sidebar = { sessions: [], next: null, costs: new Map(), timer: 0, status: '' };

async function startApp() {
  $('login').hidden = true;
  $('app').hidden = false;
  $('sign-out').hidden = false;
  let status = null;
  try {
    status = await api('/v1/status');
  } catch (error) {
    if (error instanceof Unauthorized) return;
  }
  renderServerStatus(status);
  await refreshSessions();
  const after = status && Number.isFinite(status.last_sequence)
    ? status.last_sequence
    : Math.max(0, ...sidebar.sessions.map((s) => s.last_sequence || 0));
  if (watch) watch.close();
  watch = new EventStream({ type: WATCH_TYPES }, after, () => scheduleSidebarRefresh()).open();
  const newest = sidebar.sessions[0] && sidebar.sessions[0].id;
  const wanted = sessionFromHash() || (status && status.default_session) || newest;
  if (wanted) selectSession(wanted, { replace: true });
}

function renderServerStatus(status) {
  const node = $('server-status');
  if (!status) { node.textContent = ''; return; }
  const parts = [];
  if (status.state && status.state !== 'accepting') parts.push(status.state);
  parts.push(`${(status.running || []).length} running`);
  if ((status.queued || []).length) parts.push(`${status.queued.length} queued`);
  if (status.max_concurrent) parts.push(`limit ${status.max_concurrent}`);
  node.textContent = parts.join(' · ');
}

function scheduleSidebarRefresh() {
  if (sidebar.timer) return;
  sidebar.timer = setTimeout(async () => {
    sidebar.timer = 0;
    await refreshSessions();
    try { renderServerStatus(await api('/v1/status')); } catch { /* shown by the next refresh */ }
  }, 150);
}

async function refreshSessions({ more = false } = {}) {
  const query = new URLSearchParams({ limit: String(SIDEBAR_PAGE) });
  if (sidebar.status) query.set('status', sidebar.status);
  if (more && sidebar.next !== null) query.set('before', String(sidebar.next));
  try {
    const [page, cost] = await Promise.all([api(`/v1/sessions?${query}`), more ? null : api('/v1/cost')]);
    if (cost) sidebar.costs = new Map((cost.by_session || []).map((u) => [u.session_id, u.cost_nano_usd]));
    sidebar.sessions = more ? sidebar.sessions.concat(page.sessions) : page.sessions;
    sidebar.next = page.next;
    $('sidebar-error').hidden = true;
    renderSessions();
  } catch (error) {
    if (error instanceof Unauthorized) return;
    $('sidebar-error').hidden = false;
    $('sidebar-error').textContent = `Sessions could not be loaded: ${error.message}`;
  }
}

function renderSessions() {
  const list = $('session-list');
  const fragment = document.createDocumentFragment();
  for (const session of sidebar.sessions) fragment.append(sessionRow(session));
  if (sidebar.sessions.length === 0) fragment.append(el('li', 'muted small sidebar-error', 'No sessions yet.'));
  list.replaceChildren(fragment);
  $('sessions-more').hidden = sidebar.next === null || sidebar.next === undefined;
  if (view && view.session) {
    const fresh = sidebar.sessions.find((s) => s.id === view.sessionId);
    if (fresh && fresh.last_sequence >= (view.session.last_sequence || 0)) {
      view.session = fresh;
      renderSessionHead();
    }
  }
}

function sessionRow(session) {
  const row = el('li', 'session-row');
  row.dataset.testid = 'session-row';
  row.dataset.sessionId = session.id;
  row.tabIndex = 0;
  row.title = session.id;
  if (view && view.sessionId === session.id) row.setAttribute('aria-current', 'true');
  row.append(el('span', 'sid', shortId(session.id)), badge(session.status, 'session-row-status'));
  row.append(el('span', 'agent', session.agent_id), el('span'));
  const meta = el('span', 'meta');
  const runs = session.run_count === 1 ? '1 run' : `${session.run_count || 0} runs`;
  const updated = el('time', 'updated', relativeTime(session.updated_at));
  const at = millis(session.updated_at);
  if (at !== null) {
    updated.dateTime = new Date(at).toISOString();
    updated.title = new Date(at).toLocaleString();
  }
  const cost = el('span', 'cost', usd(sidebar.costs.get(session.id) ?? 0));
  cost.dataset.testid = 'session-row-cost';
  meta.append(el('span', '', runs), updated, cost);
  row.append(meta);
  return row;
}

function refreshRelativeTimes() {
  for (const node of document.querySelectorAll('.session-row time.updated')) {
    node.textContent = relativeTime(node.dateTime);
  }
}

async function createSession(event) {
  event.preventDefault();
  const agent = $('new-session-agent').value.trim();
  if (!agent) return;
  const button = $('new-session');
  button.disabled = true;
  try {
    const session = await api('/v1/sessions', { method: 'POST', body: { agent_id: agent } });
    sidebar.sessions = [session, ...sidebar.sessions.filter((s) => s.id !== session.id)];
    renderSessions();
    selectSession(session.id);
    $('prompt').focus();
  } catch (error) {
    if (error instanceof Unauthorized) return;
    $('sidebar-error').hidden = false;
    $('sidebar-error').textContent = `The session was not created: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// Session view: header, backfill then live, batched per animation frame
// ---------------------------------------------------------------------------

let view = null;

function sessionFromHash() {
  const match = /(?:^#|&)session=([0-9a-fA-F-]{36})/.exec(location.hash);
  return match ? match[1].toLowerCase() : null;
}

function selectSession(id, { replace = false } = {}) {
  const hash = `#session=${id}`;
  if (location.hash !== hash) {
    if (replace) history.replaceState(null, '', hash);
    else history.pushState(null, '', hash);
  }
  openSession(id);
}

function closeSession() {
  if (!view) return;
  if (view.stream) view.stream.close();
  if (view.frame) cancelAnimationFrame(view.frame);
  view = null;
}

async function openSession(id) {
  if (view && view.sessionId === id) return;
  closeSession();
  const current = {
    sessionId: id,
    session: null,
    etag: null,
    stream: null,
    usage: [],
    total: 0,
    runs: new Map(),
    runCount: 0,
    queue: [],
    head: 0,
    frame: 0,
    fragments: new Map(),
    attached: 0,
    cap: RENDER_CAP,
    earlier: [],
    follow: true,
    backfillUntil: 0,
    revealed: false,
    applied: 0,
    detailTimer: 0,
  };
  view = current;
  for (const row of document.querySelectorAll('.session-row')) {
    if (row.dataset.sessionId === id) row.setAttribute('aria-current', 'true');
    else row.removeAttribute('aria-current');
  }
  $('empty-detail').hidden = true;
  $('session-view').hidden = false;
  $('timeline').replaceChildren();
  $('timeline').hidden = true;
  $('show-earlier').hidden = true;
  $('run-error').hidden = true;
  $('session-id').textContent = id;
  $('session-status').textContent = '';
  $('session-facts').replaceChildren();
  $('timeline-foot').textContent = 'Loading…';
  let detail;
  try {
    detail = await api(`/v1/sessions/${id}`);
  } catch (error) {
    if (view !== current || error instanceof Unauthorized) return;
    $('timeline-foot').textContent = error.status === 404
      ? `There is no session ${id}.`
      : `The session could not be loaded: ${error.message}`;
    return;
  }
  if (view !== current) return;
  current.session = detail.session;
  current.etag = detail.etag || null;
  current.usage = detail.usage || [];
  current.backfillUntil = detail.session.last_sequence || 0;
  current.total = detail.session.version || 0;
  renderSessionHead();
  current.stream = new EventStream({ session: id }, 0, (event) => enqueue(current, event)).open();
}

function renderSessionHead() {
  const session = view && view.session;
  if (!session) return;
  setBadge($('session-status'), session.status);
  const facts = $('session-facts');
  const items = [
    ['agent', session.agent_id],
    ['runs', String(session.run_count || 0)],
    ['events', count(session.version || 0)],
    ['cost', usd(sessionCost())],
    ['updated', relativeTime(session.updated_at)],
  ];
  if (session.tags && session.tags.length) items.push(['tags', session.tags.join(', ')]);
  for (const [key, value] of Object.entries(session.metadata || {})) items.push([key, value]);
  if (session.failure_reason) items.push(['failure', session.failure_reason]);
  const fragment = document.createDocumentFragment();
  for (const [key, value] of items) {
    const item = el('div');
    const term = el('dt', '', key);
    const detail = el('dd', '', value);
    if (key === 'cost') detail.dataset.testid = 'session-cost';
    item.append(term, detail);
    fragment.append(item);
  }
  facts.replaceChildren(fragment);
  const active = session.status === 'active';
  $('session-complete').hidden = !active;
  $('session-archive').hidden = session.status === 'archived';
  $('prompt').disabled = !active;
  $('submit-run').disabled = !active || submitting;
  $('run-form-note').textContent = active ? '' : `This session is ${session.status}: start a new session to run again.`;
}

function sessionCost() {
  if (!view) return 0;
  let streamed = 0;
  for (const run of view.runs.values()) streamed += run.costNano || 0;
  let recorded = 0;
  for (const usage of view.usage) recorded += usage.cost_nano_usd || 0;
  return Math.max(streamed, recorded);
}

function scheduleDetailRefresh() {
  const current = view;
  if (!current || current.detailTimer) return;
  current.detailTimer = setTimeout(async () => {
    current.detailTimer = 0;
    try {
      const headers = current.etag ? { 'If-None-Match': current.etag } : {};
      const detail = await api(`/v1/sessions/${current.sessionId}`, { headers });
      if (view !== current || detail.notModified) return;
      current.session = detail.session;
      current.etag = detail.etag || null;
      current.usage = detail.usage || [];
      renderSessionHead();
    } catch { /* the next change tries again */ }
  }, 500);
}

async function sessionAction(action) {
  if (!view) return;
  const current = view;
  try {
    current.session = await api(`/v1/sessions/${current.sessionId}/${action}`, { method: 'POST' });
    if (view === current) renderSessionHead();
    scheduleSidebarRefresh();
  } catch (error) {
    if (error instanceof Unauthorized) return;
    showRunError(`${action} refused: ${error.message}`);
  }
}

// ---------------------------------------------------------------------------
// Event queue: appended to, drained once per frame within a time budget
// ---------------------------------------------------------------------------

function enqueue(current, event) {
  current.queue.push(event);
  if (!current.frame) current.frame = requestAnimationFrame(() => drain(current));
}

function drain(current) {
  current.frame = 0;
  if (view !== current) return;
  const scroller = $('timeline-scroll');
  const started = performance.now();
  const queue = current.queue;
  let index = current.head;
  while (index < queue.length) {
    applySafely(current, queue[index]);
    index += 1;
    if ((index & 31) === 0 && performance.now() - started > FRAME_BUDGET_MS) break;
  }
  current.applied += index - current.head;
  if (index >= queue.length) {
    current.queue = [];
    current.head = 0;
  } else if (index > 8192) {
    current.queue = queue.slice(index);
    current.head = 0;
  } else {
    current.head = index;
  }
  flushFragments(current);
  enforceCap(current);
  // The history is laid out once, when it has all arrived and been applied; live events show as they come.
  if (!current.revealed && !backfilling(current) && current.head >= current.queue.length) {
    current.revealed = true;
    $('timeline').hidden = false;
  }
  updateFoot(current);
  if (current.follow && current.revealed) scroller.scrollTop = scroller.scrollHeight;
  if (current.head < current.queue.length) current.frame = requestAnimationFrame(() => drain(current));
}

// While the history streams in the page does not chase the bottom; it jumps there once caught up.
function backfilling(current) {
  return !current.stream || current.stream.lastId < current.backfillUntil;
}

function stickToBottom() {
  if (!view || !view.follow || !view.revealed) return;
  const scroller = $('timeline-scroll');
  scroller.scrollTop = scroller.scrollHeight;
}

function attach(current, parent, node) {
  let fragment = current.fragments.get(parent);
  if (!fragment) {
    fragment = document.createDocumentFragment();
    current.fragments.set(parent, fragment);
  }
  fragment.append(node);
}

function flushFragments(current) {
  for (const [parent, fragment] of current.fragments) parent.append(fragment);
  current.fragments.clear();
}

function updateFoot(current) {
  $('timeline-foot').textContent = current.revealed
    ? ''
    : `Loading history… ${count(current.applied)} of ${count(current.total)} events`;
}

// ---------------------------------------------------------------------------
// Folding old events behind "show earlier" so the page stays light
// ---------------------------------------------------------------------------

const blockCounts = new WeakMap();

function enforceCap(current) {
  if (current.attached <= current.cap) return;
  if (!current.follow && current.attached <= current.cap * 2) return;
  const timeline = $('timeline');
  while (current.attached > current.cap) {
    const first = timeline.firstElementChild;
    if (!first) break;
    const run = first.runView;
    if (first !== timeline.lastElementChild && !(run && !run.ended)) {
      const n = run ? run.count : 1;
      first.remove();
      if (run) run.detached = true;
      current.earlier.push(first);
      current.attached -= n;
    } else if (run && run.body.childElementCount > 1) {
      const block = run.body.firstElementChild;
      const n = blockCounts.get(block) || 1;
      block.remove();
      block.detached = true;
      run.earlier.push(block);
      run.count -= n;
      current.attached -= n;
      renderRunEarlier(run);
    } else {
      break;
    }
  }
  renderShowEarlier(current);
}

function renderShowEarlier(current) {
  const button = $('show-earlier');
  button.hidden = current.earlier.length === 0;
  const runs = current.earlier.filter((node) => node.runView).length;
  button.textContent = runs > 0
    ? `Show earlier events (${runs === 1 ? '1 run' : `${runs} runs`} folded)`
    : 'Show earlier events';
}

function showEarlier() {
  const current = view;
  if (!current || current.earlier.length === 0) return;
  const scroller = $('timeline-scroll');
  const anchor = $('timeline').firstElementChild;
  const before = anchor ? anchor.getBoundingClientRect().top : 0;
  const fragment = document.createDocumentFragment();
  let added = 0;
  const restored = [];
  while (current.earlier.length > 0 && added < RENDER_CAP / 2) {
    const node = current.earlier.pop();
    const n = node.runView ? node.runView.count : 1;
    if (node.runView) node.runView.detached = false;
    restored.unshift(node);
    added += n;
  }
  for (const node of restored) fragment.append(node);
  $('timeline').prepend(fragment);
  current.attached += added;
  current.cap += added;
  current.follow = false;
  if (anchor) scroller.scrollTop += anchor.getBoundingClientRect().top - before;
  renderShowEarlier(current);
}

function renderRunEarlier(run) {
  if (!run.earlierButton) {
    run.earlierButton = el('button', 'run-earlier');
    run.earlierButton.type = 'button';
    run.earlierButton.addEventListener('click', () => showRunEarlier(run));
    run.section.insertBefore(run.earlierButton, run.body);
  }
  run.earlierButton.hidden = run.earlier.length === 0;
  run.earlierButton.textContent = 'Show earlier events of this run';
}

function showRunEarlier(run) {
  const current = view;
  const fragment = document.createDocumentFragment();
  let added = 0;
  const restored = [];
  while (run.earlier.length > 0 && added < RENDER_CAP / 2) {
    const block = run.earlier.pop();
    block.detached = false;
    restored.unshift(block);
    added += blockCounts.get(block) || 1;
  }
  for (const block of restored) fragment.append(block);
  run.body.prepend(fragment);
  run.count += added;
  if (current && !run.detached) {
    current.attached += added;
    current.cap += added;
    current.follow = false;
  }
  renderRunEarlier(run);
}

// A new block in a run (or at the top level) holds one event; folding another into it counts too.
function countBlock(current, run, block, n = 1) {
  blockCounts.set(block, (blockCounts.get(block) || 0) + n);
  if (block.detached) return;
  if (run) {
    run.count += n;
    if (run.detached) return;
  }
  current.attached += n;
}

// ---------------------------------------------------------------------------
// Rendering events: one element per event carrying data-seq, folded into runs
// ---------------------------------------------------------------------------

let lastMarked = 0;

// Every event lands on exactly one element, which carries its sequence.
function mark(node, event) {
  node.dataset.seq = String(event.sequence);
  node.dataset.type = event.type;
  lastMarked = event.sequence;
}

function applySafely(current, event) {
  try {
    applyEvent(current, event);
  } catch (error) {
    console.error('event', event.sequence, event.type, error);
    if (lastMarked !== event.sequence) {
      const run = event.run_id ? current.runs.get(event.run_id) : null;
      minor(current, run || null, event, `(not shown: ${error.message}) ${compactJSON(event.payload)}`, 'warning');
    }
  }
}

function row(event, className, kindText) {
  const node = el('div', `row ${className || ''}`.trim());
  mark(node, event);
  const gutter = el('div', 'gutter');
  gutter.append(el('span', 'seq', `#${event.sequence}`), el('span', 'time', clockTime(event.recorded_at_us)));
  const body = el('div', 'body');
  if (kindText) body.append(el('span', 'kind', kindText));
  node.append(gutter, body);
  node.bodyNode = body;
  return node;
}

function addBlock(current, run, node) {
  if (run) attach(current, run.body, node);
  else attach(current, $('timeline'), node);
  countBlock(current, run, node);
}

function minor(current, run, event, text, extraClass) {
  const node = row(event, `minor ${extraClass || ''}`, event.type);
  node.bodyNode.append(text);
  addBlock(current, run, node);
  return node;
}

function ensureRun(current, runId) {
  let run = current.runs.get(runId);
  if (run) return run;
  current.runCount += 1;
  run = {
    id: runId,
    index: current.runCount,
    status: 'requested',
    ended: false,
    costNano: 0,
    tokens: null,
    messages: null,
    tools: new Map(),
    approvals: new Map(),
    count: 0,
    earlier: [],
    detached: false,
    startedUs: null,
    endedUs: null,
  };
  const section = el('section', 'run r-requested');
  section.dataset.testid = 'run';
  section.dataset.runId = runId;
  section.runView = run;
  const head = el('header', 'run-head');
  const title = el('span', 'run-title', `Run ${run.index}`);
  const id = el('span', 'run-id', shortId(runId));
  id.title = runId;
  run.statusNode = badge('requested', 'run-status');
  run.factsNode = el('span', 'run-facts');
  run.costNode = el('span', 'run-cost');
  run.costNode.dataset.testid = 'run-cost';
  const actions = el('span', 'run-actions');
  run.cancelButton = el('button', '', 'Cancel');
  run.cancelButton.type = 'button';
  run.cancelButton.dataset.testid = 'run-cancel';
  run.cancelButton.addEventListener('click', () => cancelRun(run));
  actions.append(run.cancelButton);
  head.append(title, id, run.statusNode, run.factsNode, run.costNode, actions);
  run.head = head;
  run.body = el('div', 'run-body');
  section.append(head, run.body);
  run.section = section;
  current.runs.set(runId, run);
  attach(current, $('timeline'), section);
  return run;
}

function setRunStatus(run, status) {
  run.status = status;
  setBadge(run.statusNode, status);
  run.section.className = `run r-${status}`;
  run.ended = TERMINAL_STATUS.has(status);
  run.cancelButton.hidden = run.ended;
}

function renderRunFacts(run) {
  const parts = [];
  if (run.provider) parts.push(run.model ? `${run.provider} · ${run.model}` : run.provider);
  if (run.startedUs && run.endedUs) parts.push(duration((run.endedUs - run.startedUs) / 1000));
  if (run.tokens) parts.push(tokensText(run.tokens));
  run.factsNode.textContent = parts.join('  ·  ');
  run.costNode.textContent = run.costNano > 0 || run.ended ? usd(run.costNano) : '';
}

function applyEvent(current, event) {
  const run = event.run_id ? ensureRun(current, event.run_id) : null;
  const p = event.payload || {};
  const live = event.sequence > current.backfillUntil;
  switch (event.type) {
    case 'run.requested': {
      mark(run.head, event);
      countBlock(current, run, run.head);
      if (p.provider) { run.provider = p.provider; run.model = p.model; }
      renderRunFacts(run);
      if (live) { scheduleDetailRefresh(); }
      break;
    }
    case 'run.queued':
      setRunStatus(run, 'queued');
      minor(current, run, event, `position ${p.position}: ${p.reason || ''}`);
      break;
    case 'run.started': {
      setRunStatus(run, 'running');
      run.provider = p.provider;
      run.model = p.model;
      run.startedUs = event.recorded_at_us;
      const parts = [p.provider, p.model, p.attempt > 1 ? `attempt ${p.attempt}` : null,
        p.provider_session_id ? `provider session ${p.provider_session_id}` : null].filter(Boolean);
      minor(current, run, event, parts.join(' · '));
      renderRunFacts(run);
      break;
    }
    case 'run.completed':
    case 'run.failed':
    case 'run.cancelled':
      renderRunEnd(current, run, event, live);
      break;
    case 'message.streamed':
      renderDelta(current, run, event);
      break;
    case 'message.received':
      renderMessage(current, run, event);
      break;
    case 'tool_call.requested':
    case 'tool_call.started':
    case 'tool_call.completed':
    case 'tool_call.refused':
      renderTool(current, run, event);
      break;
    case 'tool_approval.requested':
      renderApproval(current, run, event);
      break;
    case 'tool_approval.resolved':
      renderResolution(current, run, event);
      break;
    case 'token_usage.updated': {
      if (typeof p.cost_nano_usd === 'number') run.costNano += p.cost_nano_usd;
      run.tokens = p.total || run.tokens;
      const delta = p.delta || {};
      const cost = typeof p.cost_nano_usd === 'number' ? ` · ${usd(p.cost_nano_usd)}` : '';
      const reported = typeof p.reported_cost_usd === 'number' ? ` · reported $${p.reported_cost_usd}` : '';
      minor(current, run, event, `+${count(delta.input)} in · +${count(delta.output)} out${cost}${reported}`);
      renderRunFacts(run);
      break;
    }
    case 'policy.evaluated':
      minor(current, run, event,
        [(p.policies || []).join(', ') || 'no policies', p.outcome, `stack ${String(p.stack_hash || '').slice(0, 8)}`]
          .filter(Boolean).join(' · '));
      break;
    case 'policy.violated':
      renderViolation(current, run, event);
      break;
    case 'continuation.applied': {
      const extra = [p.message_count ? `${p.message_count} messages` : null, p.truncated ? 'truncated' : null]
        .filter(Boolean).join(', ');
      minor(current, run, event, `${p.requested} → ${p.applied}: ${p.reason}${extra ? ` (${extra})` : ''}`);
      break;
    }
    case 'routing.decided':
      renderRouting(current, run, event);
      break;
    case 'routing.failed_over':
      renderFailover(current, run, event);
      break;
    case 'provider.health_changed':
      minor(current, run, event,
        `${p.provider}: ${p.previous} → ${p.current} (${p.reason})${p.until ? ` until ${p.until}` : ''}`);
      break;
    case 'provider.warning':
      minor(current, run, event, `${p.provider}: ${p.message}`, 'warning');
      break;
    case 'workspace.snapshot_taken':
      minor(current, run, event,
        [`${p.phase} snapshot (${p.strategy})`, p.file_count !== undefined ? `${p.file_count} files` : null, p.path]
          .filter(Boolean).join(' · '));
      break;
    case 'workspace.diff_computed':
      renderDiff(current, run, event);
      break;
    case 'workspace.rolled_back':
      minor(current, run, event, `to ${p.to_snapshot}: ${p.restored} restored, ${p.removed} removed`);
      break;
    case 'workspace.worktree_created':
      minor(current, run, event, `${p.path} from ${String(p.base || '').slice(0, 10)} (${p.retention})`);
      break;
    case 'workspace.worktree_applied':
      minor(current, run, event, `${p.files} files applied to ${p.to}${p.three_way ? ' (3-way)' : ''}`);
      break;
    case 'workspace.worktree_removed':
      minor(current, run, event, `${p.path}: ${p.reason}`);
      break;
    case 'artifact.stored':
      minor(current, run, event, `${p.artifact} · ${count(p.bytes)} bytes${p.purpose ? ` · ${p.purpose}` : ''}`);
      break;
    case 'session.created':
    case 'session.activated':
    case 'session.completed':
    case 'session.failed':
    case 'session.archived':
      renderSessionEvent(current, event, live);
      break;
    default:
      minor(current, run, event, compactJSON(p));
  }
}

const SESSION_STATUS = {
  created: 'created', activated: 'active', completed: 'completed', failed: 'failed', archived: 'archived',
};

// Session facts become rows between runs; live ones refresh the header.
function renderSessionEvent(current, event, live) {
  const p = event.payload || {};
  let text = '';
  if (event.type === 'session.created') {
    text = `agent ${p.agent_id}${p.tags && p.tags.length ? ` · tags ${p.tags.join(', ')}` : ''}`;
  } else if (event.type === 'session.completed') {
    text = p.summary || '';
  } else if (event.type === 'session.failed') {
    text = p.reason || '';
  }
  const node = row(event, 'minor session-event', event.type);
  node.bodyNode.append(text);
  addBlock(current, null, node);
  if (live && current.session) {
    const status = event.type.split('.')[1];
    const next = SESSION_STATUS[status];
    if (next) current.session.status = next;
    renderSessionHead();
    scheduleDetailRefresh();
  }
}

// Assistant text: each delta is appended to the open message, never re-rendered.
function renderDelta(current, run, event) {
  const p = event.payload;
  const key = `${p.role}/${p.message_id || ''}`;
  let message = run.messages;
  if (!message || message.key !== key) {
    if (message) message.node.classList.remove('streaming');
    message = startMessage(current, run, event, p.role, key);
    message.node.classList.add('streaming');
    run.messages = message;
  }
  const delta = typeof p.delta === 'string' ? p.delta : '';
  const span = el('span', '', delta);
  mark(span, event);
  message.text.append(span);
  message.parts.push(delta);
  countBlock(current, run, message.node, DELTA_WEIGHT);
}

function startMessage(current, run, event, role, key) {
  const node = el('div', `row message ${role}`);
  const gutter = el('div', 'gutter');
  gutter.append(el('span', 'seq', `#${event.sequence}`), el('span', 'time', clockTime(event.recorded_at_us)));
  const body = el('div', 'body');
  const text = el('div', 'text');
  if (role === 'assistant') text.dataset.testid = 'run-text';
  body.append(el('span', 'role', role === 'user' ? 'prompt' : role), text);
  node.append(gutter, body);
  if (run) attach(current, run.body, node);
  else attach(current, $('timeline'), node);
  blockCounts.set(node, 0);
  return { key, node, text, parts: [] };
}

function renderMessage(current, run, event) {
  const p = event.payload;
  const key = `${p.role}/${p.message_id || ''}`;
  const open = run && run.messages;
  if (open && open.key === key) {
    mark(open.node, event);
    open.node.classList.remove('streaming');
    const streamed = open.parts.join('');
    if (typeof p.content === 'string' && p.content.length > streamed.length && p.content.startsWith(streamed)) {
      open.text.append(p.content.slice(streamed.length));
    }
    run.messages = null;
    countBlock(current, run, open.node);
    return;
  }
  if (open) { open.node.classList.remove('streaming'); run.messages = null; }
  const message = startMessage(current, run, event, p.role, key);
  mark(message.node, event);
  message.text.textContent = typeof p.content === 'string' ? p.content : compactJSON(p.content, 4000);
  if (run) countBlock(current, run, message.node);
  else countBlock(current, null, message.node);
}

// Tool calls: one card per call id; later events add a step to it.
function renderTool(current, run, event) {
  const p = event.payload;
  let tool = run.tools.get(p.call_id);
  if (!tool) {
    const node = row(event, 'tool-row');
    const card = el('div', 'card tool');
    const head = el('div', 'card-head');
    const summary = el('span', 'summary', inputSummary(p.input));
    summary.title = compactJSON(p.input, 2000);
    const status = badge('requested', 'tool-status');
    head.append(el('span', 'kind', 'tool'), el('span', 'name', p.name || '?'), summary, status);
    const steps = el('div', 'steps');
    card.append(head, steps);
    node.bodyNode.append(card);
    tool = { node, card, status, steps, name: p.name };
    run.tools.set(p.call_id, tool);
    addBlock(current, run, node);
    tool.first = true;
  } else {
    tool.first = false;
  }
  switch (event.type) {
    case 'tool_call.requested':
      setBadge(tool.status, 'waiting');
      if (!tool.first) addStep(current, run, tool, event, 'held');
      break;
    case 'tool_call.started':
      setBadge(tool.status, 'running');
      if (!tool.first) addStep(current, run, tool, event, 'started');
      break;
    case 'tool_call.completed': {
      const failed = p.is_error || (typeof p.exit_code === 'number' && p.exit_code !== 0);
      setBadge(tool.status, failed ? 'error' : 'ok');
      if (!failed) tool.status.classList.add('s-completed');
      const result = el('div', 'result');
      mark(result, event);
      const output = typeof p.output === 'string' ? p.output : compactJSON(p.output, 20000);
      const label = `${failed ? 'error' : 'output'}${typeof p.exit_code === 'number' ? ` (exit ${p.exit_code})` : ''}`;
      const pre = el('pre', `output${failed ? ' error' : ''}`, output || '(no output)');
      if (output.length > OUTPUT_INLINE || output.split('\n').length > 12) {
        const details = el('details');
        details.append(el('summary', '', `${label} · ${count(output.length)} characters`), pre);
        result.append(details);
      } else {
        result.append(pre);
      }
      tool.card.append(result);
      countBlock(current, run, tool.node);
      break;
    }
    case 'tool_call.refused':
      setBadge(tool.status, 'refused');
      tool.status.classList.add('s-failed');
      addStep(current, run, tool, event, `refused by the provider: ${p.reason}`, true);
      break;
    default:
      break;
  }
}

function addStep(current, run, tool, event, text, bad) {
  const step = el('span', `step${bad ? ' bad' : ''}`, `#${event.sequence} ${text}`);
  mark(step, event);
  tool.steps.append(step);
  countBlock(current, run, tool.node);
}

// Approvals: a card with Approve and Deny while pending, its decision after.
function renderApproval(current, run, event) {
  const p = event.payload;
  const node = row(event, 'approval-row');
  const card = el('div', 'card approval');
  card.dataset.testid = 'approval';
  card.dataset.approvalId = p.approval_id;
  const head = el('div', 'card-head');
  const summary = el('span', 'summary', inputSummary(p.input));
  summary.title = compactJSON(p.input, 2000);
  const status = badge('pending', 'approval-status');
  head.append(el('span', 'kind', 'approval'), el('span', 'name', p.tool), summary, status);
  const effect = p.can_block ? 'the tool waits for an answer' : 'the run goes on; a denial cancels it';
  const why = el('div', 'small muted', [p.policy, p.rule, effect].join(' · '));
  card.append(head, why);
  const actions = el('div', 'approval-actions');
  const approve = el('button', 'approve', 'Approve');
  approve.type = 'button';
  approve.dataset.testid = 'approve';
  const deny = el('button', 'deny', 'Deny');
  deny.type = 'button';
  deny.dataset.testid = 'deny';
  actions.append(approve, deny);
  if (typeof p.deadline === 'number') {
    actions.append(el('span', 'deadline', `denied automatically at ${clockTime(p.deadline)} if unanswered`));
  }
  card.append(actions);
  node.bodyNode.append(card);
  const approval = { node, card, status, actions, provisional: null, resolved: false, callId: p.call_id };
  approve.addEventListener('click', () => answerApproval(p.approval_id, 'approve', approval));
  deny.addEventListener('click', () => answerApproval(p.approval_id, 'deny', approval));
  run.approvals.set(p.approval_id, approval);
  const tool = p.call_id ? run.tools.get(p.call_id) : null;
  if (tool) setBadge(tool.status, 'waiting');
  addBlock(current, run, node);
}

function renderResolution(current, run, event) {
  const p = event.payload;
  let approval = run.approvals.get(p.approval_id);
  if (!approval) {
    minor(current, run, event, `${p.approval_id}: ${p.approved ? 'approved' : 'denied'}`);
    return;
  }
  approval.resolved = true;
  approval.actions.remove();
  if (approval.provisional) approval.provisional.remove();
  const verdict = p.approved ? 'approved' : 'denied';
  setBadge(approval.status, verdict);
  approval.card.classList.add(`resolved-${verdict}`);
  const who = p.resolved_by ? ` by ${p.resolved_by}` : '';
  const decision = el('div', `decision ${verdict}`,
    `#${event.sequence} ${p.approved ? 'Approved' : 'Denied'}${who}${p.reason ? ` — ${p.reason}` : ''}`);
  mark(decision, event);
  decision.dataset.testid = 'approval-decision';
  approval.card.append(decision);
  countBlock(current, run, approval.node);
  const tool = approval.callId ? run.tools.get(approval.callId) : null;
  if (tool && tool.status.textContent === 'waiting') setBadge(tool.status, verdict);
}

async function answerApproval(id, decision, approval) {
  for (const button of approval.actions.querySelectorAll('button')) button.disabled = true;
  if (!approval.provisional) {
    approval.provisional = el('div', 'decision provisional');
    approval.card.append(approval.provisional);
  }
  approval.provisional.textContent = decision === 'approve' ? 'Approving…' : 'Denying…';
  try {
    const answer = await api(`/v1/approvals/${id}`, { method: 'POST', body: { decision, by: 'web' } });
    if (!approval.resolved) {
      const verdict = answer.status === 'approved' ? 'Approved' : 'Denied';
      approval.provisional.textContent = `${verdict} by ${answer.resolved_by} — waiting for the run`;
      setBadge(approval.status, answer.status);
      approval.actions.hidden = true;
    }
  } catch (error) {
    if (error instanceof Unauthorized) return;
    if (approval.resolved) return;
    if (error.status === 409) {
      approval.provisional.textContent = `Already answered: ${error.message}`;
      approval.actions.hidden = true;
      return;
    }
    approval.provisional.textContent = `Not recorded: ${error.message}`;
    for (const button of approval.actions.querySelectorAll('button')) button.disabled = false;
  }
}

function renderViolation(current, run, event) {
  const p = event.payload;
  const node = row(event, 'violation-row');
  const tone = { request_approval: ' held', warn: ' warned' }[p.action] || '';
  const card = el('div', `card violation${tone}`);
  const head = el('div', 'card-head');
  const action = { request_approval: 'asks for approval', warn: 'warn', cancel: 'cancel' }[p.action] || p.action;
  head.append(el('span', 'kind', 'policy violated'), el('span', 'name', `${p.policy} · ${p.rule}`),
    el('span', 'summary', ''), badge(action));
  card.append(head, el('div', '', p.message));
  const counters = p.counters || {};
  const seen = [
    `tokens ${count(counters.total_tokens)}`,
    `cost ${usd(counters.cost_nano_usd || 0)}`,
    `${counters.tool_calls || 0} tool calls`,
    duration(counters.duration_ms),
    p.can_block ? null : 'seen after it ran',
  ];
  card.append(el('div', 'small muted', seen.filter(Boolean).join(' · ')));
  node.bodyNode.append(card);
  addBlock(current, run, node);
}

function renderRouting(current, run, event) {
  const p = event.payload;
  const node = row(event, 'routing-row');
  const card = el('div', 'card routing');
  const candidates = (p.candidates || []).map((c) => {
    if (c.excluded_because) return `${c.provider} (excluded: ${c.excluded_because})`;
    return typeof c.score === 'number' ? `${c.provider} ${c.score.toFixed(2)}` : c.provider;
  }).join(', ');
  const head = el('div', 'card-head');
  head.append(el('span', 'kind', 'routing'), el('span', 'name', p.chosen ? `→ ${p.chosen}` : 'no provider'),
    el('span', 'summary', [p.strategy, `attempt ${p.attempt}`, p.sticky_key ? `sticky ${p.sticky_key}` : null,
      p.rebound ? 'rebound' : null].filter(Boolean).join(' · ')));
  card.append(head, el('div', 'small muted', `candidates: ${candidates || 'none'}`));
  node.bodyNode.append(card);
  addBlock(current, run, node);
}

function renderFailover(current, run, event) {
  const p = event.payload;
  const failure = p.failure || {};
  const node = row(event, 'routing-row');
  const card = el('div', `card ${p.to ? 'routing' : 'failure'}`);
  const head = el('div', 'card-head');
  head.append(el('span', 'kind', 'failover'),
    el('span', 'name', p.to ? `${p.from} → ${p.to}` : `${p.from}: the router gave up`),
    el('span', 'summary', `attempt ${p.attempt}${p.after_output ? ' · after output' : ''}`));
  card.append(head, el('div', 'small', `${failure.kind || ''}: ${failure.message || ''}`));
  node.bodyNode.append(card);
  addBlock(current, run, node);
}

// Workspace diffs as a patch, + and - lines coloured.
function renderDiff(current, run, event) {
  const p = event.payload;
  const node = row(event, 'diff-row');
  const card = el('div', 'card diff');
  const head = el('div', 'card-head');
  const files = p.files_changed === 1 ? '1 file' : `${p.files_changed} files`;
  head.append(el('span', 'kind', 'diff'), el('span', 'name', files),
    el('span', 'summary', `+${p.insertions} −${p.deletions} · ${count(p.patch_bytes)} bytes`));
  card.append(head);
  if (Array.isArray(p.changes) && p.changes.length) {
    const list = el('ul', 'diff-files');
    for (const change of p.changes.slice(0, 50)) {
      const item = el('li');
      item.append(`${change.change.padEnd(9)} ${change.path}`);
      if (change.binary) item.append(' (binary)');
      else {
        item.append(' ');
        const added = el('span', 'ins', `+${change.insertions || 0}`);
        item.append(added, ' ', el('span', 'del', `−${change.deletions || 0}`));
      }
      list.append(item);
    }
    if (p.changes.length > 50) list.append(el('li', 'muted', `… ${p.changes.length - 50} more`));
    card.append(list);
  }
  if (typeof p.patch === 'string' && p.patch) card.append(renderPatch(p.patch));
  else if (p.artifact) card.append(el('div', 'small muted', `patch stored as ${p.artifact}`));
  node.bodyNode.append(card);
  addBlock(current, run, node);
}

const PATCH_META =
  /^(diff --git|index |--- |\+\+\+ |new file|deleted file|similarity|rename |old mode|new mode|Binary)/;

function patchLine(line) {
  let kind = 'ctx';
  if (PATCH_META.test(line)) kind = 'meta';
  else if (line.startsWith('@@')) kind = 'hunk';
  else if (line[0] === '+') kind = 'add';
  else if (line[0] === '-') kind = 'del';
  return el('span', kind, line || ' ');
}

function renderPatch(patch) {
  const box = el('div', 'patch');
  const lines = patch.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const fragment = document.createDocumentFragment();
  for (const line of lines.slice(0, PATCH_LINES)) fragment.append(patchLine(line));
  box.append(fragment);
  if (lines.length > PATCH_LINES) {
    const more = el('button', 'link-button', `Show ${lines.length - PATCH_LINES} more lines`);
    more.type = 'button';
    more.addEventListener('click', () => {
      const rest = document.createDocumentFragment();
      for (const line of lines.slice(PATCH_LINES)) rest.append(patchLine(line));
      more.replaceWith(rest);
    });
    box.append(more);
  }
  return box;
}

// The end of a run: status, duration, usage and cost, and the header updated.
function renderRunEnd(current, run, event, live) {
  const p = event.payload;
  const status = event.type.split('.')[1];
  setRunStatus(run, status);
  run.endedUs = event.recorded_at_us;
  if (run.messages) { run.messages.node.classList.remove('streaming'); run.messages = null; }
  for (const tool of run.tools.values()) {
    const state = tool.status.textContent;
    if (state === 'waiting' || state === 'approved' || state === 'requested') setBadge(tool.status, 'not run');
    else if (state === 'running') setBadge(tool.status, 'interrupted');
  }
  for (const approval of run.approvals.values()) {
    if (!approval.resolved) {
      approval.resolved = true;
      approval.actions.remove();
      setBadge(approval.status, 'closed');
    }
  }
  const node = row(event, 'end-row');
  node.dataset.testid = 'run-end';
  const card = el('div', `card ${status === 'failed' ? 'failure' : 'end'}`);
  const line = el('div', 'end-line');
  line.append(badge(status));
  if (status === 'failed' && p.failure) {
    line.append(el('span', '', `${p.failure.kind}: ${p.failure.message}`));
  } else if (status === 'cancelled') {
    line.append(el('span', '', `${p.reason}${p.message ? `: ${p.message}` : ''}`));
  } else if (p.stop_reason) {
    line.append(el('span', 'muted', p.stop_reason));
  }
  const took = run.startedUs ? duration((run.endedUs - run.startedUs) / 1000) : '';
  if (took) line.append(el('span', 'muted', took));
  const usage = el('span', 'muted usage', tokensText(run.tokens));
  const cost = el('span', 'cost', run.costNano > 0 ? usd(run.costNano) : '');
  cost.dataset.testid = 'run-end-cost';
  line.append(usage, cost);
  card.append(line);
  if (status === 'failed' && p.failure && p.failure.stderr) card.append(el('pre', 'output error', p.failure.stderr));
  node.bodyNode.append(card);
  addBlock(current, run, node);
  renderRunFacts(run);
  if (live) {
    fetchRunResult(current, run, usage, cost);
    scheduleDetailRefresh();
  }
}

async function fetchRunResult(current, run, usageNode, costNode) {
  try {
    const answer = await api(`/v1/runs/${run.id}`);
    const usage = answer.result && answer.result.usage;
    if (!usage || view !== current) return;
    run.tokens = usage.tokens || run.tokens;
    if (typeof usage.cost_nano_usd === 'number') run.costNano = usage.cost_nano_usd;
    usageNode.textContent = tokensText(run.tokens);
    costNode.textContent = usd(run.costNano);
    renderRunFacts(run);
    renderSessionHead();
  } catch { /* the events already gave the figures */ }
}

async function cancelRun(run) {
  run.cancelButton.disabled = true;
  try {
    await api(`/v1/runs/${run.id}/cancel`, { method: 'POST' });
  } catch (error) {
    if (!(error instanceof Unauthorized)) showRunError(`Cancel refused: ${error.message}`);
    run.cancelButton.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// Submitting a run: one Idempotency-Key per submission, kept for its retries
// ---------------------------------------------------------------------------

let submitting = false;
let pendingSubmit = null;

function showRunError(message) {
  const node = $('run-error');
  node.hidden = !message;
  node.textContent = message || '';
}

async function submitRun(event) {
  event.preventDefault();
  if (submitting || !view || !view.session) return;
  const prompt = $('prompt').value;
  if (!prompt.trim()) return;
  const sessionId = view.sessionId;
  if (!pendingSubmit || pendingSubmit.prompt !== prompt || pendingSubmit.sessionId !== sessionId) {
    pendingSubmit = { key: newKey(), prompt, sessionId };
  }
  const { key } = pendingSubmit;
  submitting = true;
  const button = $('submit-run');
  button.disabled = true;
  button.textContent = 'Starting…';
  showRunError('');
  try {
    await api(`/v1/sessions/${sessionId}/runs`, {
      method: 'POST',
      headers: { 'Idempotency-Key': key },
      body: { messages: [{ role: 'user', content: prompt }] },
    });
    if (pendingSubmit && pendingSubmit.key === key) pendingSubmit = null;
    if ($('prompt').value === prompt) $('prompt').value = '';
    if (view && view.sessionId === sessionId) view.follow = true;
  } catch (error) {
    if (!(error instanceof Unauthorized)) showRunError(`The run was not started: ${error.message}`);
  } finally {
    submitting = false;
    button.textContent = 'Run';
    button.disabled = !(view && view.session && view.session.status === 'active');
  }
}

// ---------------------------------------------------------------------------
// Start-up and wiring
// ---------------------------------------------------------------------------

let lastUserScroll = 0;

function noteUserScroll() {
  lastUserScroll = performance.now();
}

// Only the reader's own scrolling decides whether the view follows the newest events.
function trackFollow() {
  if (!view || performance.now() - lastUserScroll > 1000) return;
  const scroller = $('timeline-scroll');
  view.follow = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
}

function openFromRow(event) {
  const row = event.target.closest('.session-row, .search-hit');
  if (row) selectSession(row.dataset.sessionId);
}

// ---------------------------------------------------------------------------
// Search: GET /v1/search, hits above the session list (409 while the log's index is off)
// ---------------------------------------------------------------------------

let searchSerial = 0;

async function runSearch(event) {
  event.preventDefault();
  const q = $('search-input').value.trim();
  const list = $('search-results');
  const serial = ++searchSerial;
  if (!q) {
    list.hidden = true;
    list.replaceChildren();
    return;
  }
  let items;
  try {
    const result = await api(`/v1/search?${new URLSearchParams({ q, limit: '20' })}`);
    items = result.hits.map(searchRow);
    if (items.length === 0) items = [el('li', 'muted small search-note', 'No events match.')];
  } catch (error) {
    if (error instanceof Unauthorized) return;
    const item = el('li', 'form-error small search-note', error.message);
    item.dataset.testid = 'search-error';
    items = [item];
  }
  if (serial !== searchSerial) return; // a newer search answered first
  list.replaceChildren(...items);
  list.hidden = false;
}

function searchRow(hit) {
  const row = el('li', 'search-hit');
  row.dataset.testid = 'search-hit';
  row.dataset.sessionId = hit.session_id;
  row.dataset.sequence = String(hit.sequence);
  row.tabIndex = 0;
  row.title = `${hit.type} at sequence ${hit.sequence} in session ${hit.session_id}`;
  row.append(el('span', 'where', `#${hit.sequence} · ${shortId(hit.session_id)} · ${hit.type}`));
  row.append(el('span', 'snippet', hit.snippet));
  return row;
}

function init() {
  $('token-form').addEventListener('submit', submitToken);
  $('sign-out').addEventListener('click', () => signOut(''));
  $('new-session-form').addEventListener('submit', createSession);
  $('search-form').addEventListener('submit', runSearch);
  $('search-input').addEventListener('input', (event) => { if (!event.target.value.trim()) runSearch(event); });
  $('search-results').addEventListener('click', openFromRow);
  $('search-results').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); openFromRow(event); }
  });
  $('session-list').addEventListener('click', openFromRow);
  $('session-list').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); openFromRow(event); }
  });
  $('sessions-more').addEventListener('click', () => refreshSessions({ more: true }));
  $('status-filter').addEventListener('change', (event) => {
    sidebar.status = event.target.value;
    sidebar.next = null;
    refreshSessions();
  });
  $('run-form').addEventListener('submit', submitRun);
  $('prompt').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      $('run-form').requestSubmit();
    }
  });
  $('session-complete').addEventListener('click', () => sessionAction('complete'));
  $('session-archive').addEventListener('click', () => sessionAction('archive'));
  $('show-earlier').addEventListener('click', showEarlier);
  const scroller = $('timeline-scroll');
  scroller.addEventListener('scroll', trackFollow, { passive: true });
  for (const type of ['wheel', 'touchstart', 'pointerdown', 'keydown']) {
    scroller.addEventListener(type, noteUserScroll, { passive: true });
  }
  new ResizeObserver(stickToBottom).observe($('timeline'));
  window.addEventListener('popstate', () => {
    const id = sessionFromHash();
    if (id && token) openSession(id);
  });
  window.addEventListener('online', () => { updateConnection(); wakeStreams(); });
  window.addEventListener('offline', updateConnection);
  setInterval(refreshRelativeTimes, 30000);
  if (token) startApp();
  else showLogin('');
}

init();
