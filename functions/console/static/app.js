// The Connectors console. Every value shown comes from the admin functions;
// secrets go one way only (typed here, sent to connectors-create/-update) and
// are never read back: the API does not return them and this page never
// writes a typed secret anywhere but into the request body.
'use strict';
(function () {
  const config = JSON.parse(document.getElementById('console-config').textContent);
  const $ = (id) => document.getElementById(id);

  const GRANT_SPECIAL = { gcs_service_account: true, aws_iam: true };
  const SECRET_FIELDS = ['clientSecret', 'refreshToken', 'password', 'nextClientSecret'];
  const MAX_PAGES = 40;

  const state = {
    agent: new URLSearchParams(location.search).get('agent') || '',
    all: [],             // every connector (for the agent list)
    shown: [],           // connectors of the selected agent
    knownAgents: [],
    expanded: new Set(),
    tests: new Map(),    // name -> {cls, text}: last test result, kept across renders
    editing: null,       // {name, revision, original} while editing
    formAgents: [],
    loads: 0,
  };

  // ---------- API ----------

  class ApiError extends Error {
    constructor(status, err) {
      super((err && err.message) || ('HTTP ' + status));
      this.status = status;
      this.code = (err && err.code) || '';
      this.field = (err && err.field) || '';
      this.upstream = (err && err.upstream) || null;
    }
  }

  function fnURL(fn) {
    const u = config.functions && config.functions[fn];
    if (!u) throw new ApiError(0, { code: 'internal', message: 'The console has no URL for ' + fn + '.' });
    return new URL(u, location.href);
  }

  async function api(fn, body, query) {
    const url = fnURL(fn);
    const init = { method: 'POST', redirect: 'manual', cache: 'no-store', headers: { 'Content-Type': 'application/json' } };
    if (query) {
      init.method = 'GET';
      delete init.headers;
      for (const [k, v] of Object.entries(query)) if (v !== '' && v != null) url.searchParams.set(k, String(v));
    } else {
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(url, init);
    } catch (e) {
      throw new ApiError(0, { code: 'unavailable', message: 'Could not reach ' + fn + '. Check your connection; if your sign-in expired, reload the page.' });
    }
    if (resp.type === 'opaqueredirect') {
      throw new ApiError(0, { code: 'unauthenticated', message: 'Your session has expired. Reload the page to sign in again.' });
    }
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!resp.ok) {
      if (data && data.error) throw new ApiError(resp.status, data.error);
      throw new ApiError(resp.status, { code: '', message: fn + ' answered HTTP ' + resp.status + (resp.statusText ? ' ' + resp.statusText : '') + ' without an error body.' });
    }
    if (data === null) throw new ApiError(resp.status, { code: 'internal', message: fn + ' answered with something other than JSON.' });
    return data;
  }

  async function listAll(agent) {
    const out = [];
    let token = '';
    for (let i = 0; i < MAX_PAGES; i++) {
      const page = await api('connectors-list', null, { agent: agent, pageSize: 500, pageToken: token });
      out.push(...(page.connectors || []));
      token = page.nextPageToken || '';
      if (!token) break;
    }
    return out;
  }

  // ---------- DOM helpers ----------

  // el builds an element; children are nodes or strings (always text, never HTML).
  function el(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') n.className = v;
      else if (k === 'text') n.textContent = v;
      else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) if (c != null) n.append(c);
    return n;
  }

  function sortedUnique(list) {
    return Array.from(new Set(list.filter(Boolean))).sort((a, b) => a.localeCompare(b));
  }

  // ---------- Banner ----------

  function showBanner(kind, message, action) {
    const b = $('banner');
    b.className = 'banner ' + kind;
    b.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    $('banner-text').textContent = message;
    const btn = $('banner-action');
    btn.hidden = !action;
    btn.onclick = null;
    if (action) {
      btn.textContent = action.label;
      btn.onclick = () => { hideBanner(); action.run(); };
    }
    b.hidden = false;
    if (kind === 'error') b.scrollIntoView({ block: 'nearest' });
  }
  function hideBanner() { $('banner').hidden = true; }

  function describe(e, what) {
    if (!(e instanceof ApiError)) return what + ': ' + (e && e.message ? e.message : String(e));
    switch (e.code) {
      case 'unauthenticated':
        return what + ': you are not signed in (' + e.message + ')';
      case 'permission_denied':
        return what + ': your account is not a connectors admin (' + e.message + ')';
      case 'unavailable':
        return what + ': ' + e.message;
    }
    return what + ': ' + e.message + (e.field ? ' (' + e.field + ')' : '');
  }

  // ---------- Loading ----------

  async function refresh() {
    document.body.dataset.state = 'loading';
    try {
      state.all = await listAll('');
      state.shown = state.agent ? await listAll(state.agent) : state.all;
      const agents = [];
      for (const c of state.all) agents.push(...(c.agents || []));
      state.knownAgents = sortedUnique(agents);
      renderAgentFilter();
      renderList();
      renderAgentOptions();
    } catch (e) {
      showBanner('error', describe(e, 'Could not load connectors'), { label: 'Retry', run: refresh });
      renderList(e);
    } finally {
      state.loads++;
      document.body.dataset.loads = String(state.loads);
      document.body.dataset.state = 'ready';
    }
  }

  function renderAgentFilter() {
    const sel = $('agent-filter');
    const agents = sortedUnique(state.knownAgents.concat(state.agent ? [state.agent] : []));
    sel.replaceChildren(el('option', { value: '', text: 'All agents' }), ...agents.map((a) => el('option', { value: a, text: a })));
    sel.value = state.agent;
  }

  // ---------- List ----------

  function renderList(loadError) {
    const list = $('connector-list');
    const empty = $('list-empty');
    const count = $('list-count');
    if (loadError) {
      list.replaceChildren();
      empty.hidden = false;
      empty.textContent = 'The connectors could not be loaded.';
      count.textContent = '';
      return;
    }
    const items = state.shown;
    count.textContent = (items.length === 1 ? '1 connector' : items.length + ' connectors') + (state.agent ? ' for agent ' + state.agent : '');
    empty.hidden = items.length > 0;
    empty.textContent = state.agent
      ? 'No connector is available to agent ' + state.agent + '.'
      : 'No connectors yet. Create one with “New Connector” above.';
    list.replaceChildren(...items.map(renderRow));
  }

  function detail(label, value, plain) {
    const dd = el('dd', { class: plain ? 'plain' : null });
    dd.textContent = value === '' || value == null ? '—' : value;
    return [el('dt', { text: label }), dd];
  }

  function when(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d) || d.getFullYear() < 2000) return '';
    return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  }

  // health describes c's minting health: the state's mark, a short label
  // (the error code when not ok: the needs-reconnect badge already names
  // that state), a sentence with since when; null before any mint.
  function health(c) {
    if (c.state === 'ok' && !c.lastSuccessAt && !c.lastFailureAt) return null;
    const since = when(c.stateSince);
    switch (c.state) {
      case 'failing':
        return { icon: '⚠️', label: 'Failing' + (c.lastErrorCode ? ': ' + c.lastErrorCode : ''), cls: 'warn', text: 'Failing' + (c.lastErrorCode ? ': ' + c.lastErrorCode : '') +
          (since ? ' since ' + since : '') + (c.consecutiveFailures ? ' (' + c.consecutiveFailures + ' failed mints in a row)' : '') };
      case 'needs_reconnect':
        return { icon: '❌', label: c.lastErrorCode || 'Refused', cls: 'bad', text: 'Needs reconnect' + (c.lastErrorCode ? ': ' + c.lastErrorCode : '') + (since ? ' since ' + since : '') };
      case 'ok':
        return { icon: '✅', label: 'Healthy', cls: 'ok', text: 'Healthy: last mint ' + when(c.lastSuccessAt) };
    }
    return null;
  }

  function renderRow(c) {
    const open = state.expanded.has(c.name);
    const bodyId = 'row-' + c.name;
    const agents = c.agents || [];
    const toggle = el('button', { type: 'button', class: 'row-toggle', 'aria-expanded': String(open), 'aria-controls': bodyId },
      el('span', { class: 'chev', 'aria-hidden': 'true' }),
      el('span', { class: 'row-name', text: c.name }),
      el('span', { class: 'status' + (c.active ? '' : ' inactive'), title: c.active ? 'Active' : 'Inactive' },
        el('span', { 'aria-hidden': 'true', text: c.active ? '✅' : '❌' }),
        el('span', { text: c.active ? 'Active' : 'Inactive' })),
      ...(c.needsReconnect ? [el('span', { class: 'badge warn', 'data-badge': 'needs-reconnect',
        title: 'The provider refused the stored refresh token' + (when(c.needsReconnectSince) ? ' since ' + when(c.needsReconnectSince) : ''),
        text: 'Needs reconnect' })] : []),
      ...((h) => h ? [el('span', { class: 'badge health ' + h.cls, 'data-health': c.state, title: h.text },
        el('span', { 'aria-hidden': 'true', text: h.icon }), el('span', { text: ' ' + h.label }))] : [])(health(c)),
      el('span', { class: 'chips' }, ...(agents.length
        ? agents.map((a) => el('span', { class: 'chip', text: a }))
        : [el('span', { class: 'chip none', text: 'no agents' })])),
      el('span', { class: 'row-grant', text: c.grantType }));
    toggle.addEventListener('click', () => {
      const now = toggle.getAttribute('aria-expanded') !== 'true';
      toggle.setAttribute('aria-expanded', String(now));
      body.hidden = !now;
      if (now) state.expanded.add(c.name); else state.expanded.delete(c.name);
    });

    const secrets = [];
    if (c.hasClientSecret) secrets.push(c.grantType === 'gcs_service_account' ? 'JSON key' : 'client secret');
    if (c.hasRefreshToken) secrets.push('refresh token');
    if (c.hasPassword) secrets.push('password');
    if (c.hasNextClientSecret) secrets.push('next client secret');
    const extras = Object.keys(c.extraParams || {}).sort();
    const updated = when(c.updatedAt);

    const result = el('div', { class: 'test-result', role: 'status', 'aria-live': 'polite' });
    const prev = state.tests.get(c.name);
    if (prev) { result.className = 'test-result ' + prev.cls; result.textContent = prev.text; }
    const testBtn = el('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-action': 'test', text: 'Test connection' });
    testBtn.addEventListener('click', () => testConnector(c, result, testBtn));

    const body = el('div', { class: 'row-body', id: bodyId, hidden: !open },
      el('dl', { class: 'details' },
        ...detail('Client ID', c.clientId),
        ...detail('URL', c.url),
        ...(c.authorizationUrl ? detail('Authorization URL', c.authorizationUrl) : []),
        ...(c.authorizationUrl ? detail('Account', !c.hasRefreshToken ? 'Not connected: press Connect' : c.needsReconnect ? 'Refused by the provider' : 'Connected', true) : []),
        ...(c.needsReconnect ? detail('Needs reconnect', 'The provider refused the stored refresh token (invalid_grant)' +
          (when(c.needsReconnectSince) ? ' since ' + when(c.needsReconnectSince) : '') +
          (c.authorizationUrl ? ': press Reconnect.' : ': enter a new refresh token with Edit.'), true) : []),
        ...(health(c) ? detail('Health', health(c).text, true) : []),
        ...(c.maxTokenLifetime ? detail('Maximum token lifetime', duration(c.maxTokenLifetime), true) : []),
        ...(c.clientAuthMethod ? detail('Client authentication', c.clientAuthMethod, true) : []),
        ...(c.apiBaseUrl ? detail('API base URL', c.apiBaseUrl) : []),
        ...detail('Grant type', c.grantType),
        ...detail('Content type', c.contentType),
        ...(c.scope ? detail('Scope', c.scope) : []),
        ...(c.username ? detail('Username', c.username) : []),
        ...(c.serviceAccountEmail ? detail('Service account', c.serviceAccountEmail) : []),
        ...(extras.length ? detail('Extra parameters', extras.join(', ')) : []),
        ...detail('Header as payload', c.headerAsPayload ? 'Yes (Basic auth header)' : 'No (in the body)', true),
        ...detail('Stored secrets', secrets.length ? secrets.join(', ') : 'none', true),
        ...(updated ? detail('Last change', updated + (c.updatedBy ? ' by ' + c.updatedBy : ''), true) : [])),
      el('div', { class: 'row-actions' },
        testBtn,
        ...(c.authorizationUrl ? [el('button', { type: 'button', class: 'btn ' + (c.needsReconnect ? 'btn-primary' : 'btn-secondary') + ' btn-small', 'data-action': 'connect',
          text: c.hasRefreshToken ? 'Reconnect' : 'Connect', onclick: (ev) => connectAccount(c, ev.currentTarget) })] : []),
        el('span', { class: 'spacer' }),
        el('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-action': 'edit', text: 'Edit', onclick: () => startEdit(c) }),
        el('button', { type: 'button', class: 'btn btn-danger-outline btn-small', 'data-action': 'delete', text: 'Delete', onclick: () => confirmDelete(c) })),
      result);

    return el('li', { class: 'row', 'data-name': c.name }, toggle, body);
  }

  // ---------- Connect (authorization code + PKCE) ----------

  // The service keeps the state and the PKCE verifier; the page only
  // follows the provider's authorization URL and, back from oauth-callback,
  // reads the outcome in its fragment.
  async function connectAccount(c, btn) {
    btn.disabled = true;
    try {
      const r = await api('connectors-authorize', { name: c.name, returnTo: location.pathname + location.search });
      location.assign(r.authorizationUrl);
    } catch (e) {
      btn.disabled = false;
      showBanner('error', describe(e, 'Could not start connecting ' + c.name));
    }
  }

  function showConnectOutcome() {
    if (!location.hash || location.hash.indexOf('connect=') < 0) return;
    const o = new URLSearchParams(location.hash.slice(1));
    history.replaceState(null, '', location.pathname + location.search);
    const name = o.get('connector') || 'the connector';
    if (o.get('connect') === 'ok') {
      showBanner('success', 'Connected ' + name + ': the account\'s refresh token is stored.');
      state.expanded.add(name);
    } else {
      let msg = 'Connecting ' + name + ' failed: ' + (o.get('error') || 'unknown error');
      if (o.get('error_description')) msg += ' — ' + o.get('error_description');
      showBanner('error', msg);
    }
  }

  // ---------- Presets ----------

  const PRESETS = (config.presets && config.presets.presets) || [];

  function presetByID(id) { return PRESETS.find((p) => p.id === id) || null; }

  function presetParams() {
    const out = {};
    for (const input of $('preset-params').querySelectorAll('input')) out[input.dataset.param] = input.value.trim();
    return out;
  }

  function fillPlaceholders(s, params) {
    return (s || '').replace(/\{([A-Za-z][A-Za-z0-9]*)\}/g, (m, k) => params[k] || m);
  }

  // applyPreset shows the preset's values in the form; the service fills
  // the fields the form has no input for (authorization URL and extras,
  // issuer, client authentication).
  function applyPreset() {
    const p = presetByID($('f-preset').value);
    const params = presetParams();
    $('h-preset').textContent = p
      ? (p.title + (p.notes ? ': ' + p.notes : '') + ' Documentation: ' + p.docs)
      : 'Fills the endpoints, encoding, client authentication, scopes and extras from the provider\'s documentation; fields you change win.';
    if (!p) return;
    $('f-url').value = fillPlaceholders(p.url, params);
    $('f-apiBaseUrl').value = fillPlaceholders(p.apiBaseUrl, params);
    $('f-grantType').value = p.grantType;
    $('f-contentType').value = p.contentType;
    $('f-scope').value = p.scope || '';
    $('f-headerAsPayload').checked = p.clientAuthMethod === 'client_secret_basic';
    updateGrantFields();
  }

  function renderPresetParams() {
    const p = presetByID($('f-preset').value);
    const box = $('preset-params');
    box.replaceChildren();
    for (const k of (p && p.params) || []) {
      const id = 'pp-' + k;
      const input = el('input', { id: id, type: 'text', spellcheck: 'false', autocapitalize: 'off', placeholder: k });
      input.dataset.param = k;
      input.addEventListener('input', applyPreset);
      box.append(el('div', { class: 'field', 'data-field': 'presetParams.' + k },
        el('label', { for: id, text: k }), input, el('p', { class: 'error', id: 'e-presetParams.' + k, hidden: true })));
    }
    applyPreset();
  }

  // ---------- Test connection ----------

  function duration(s) {
    s = Math.max(0, Math.round(Number(s) || 0));
    if (s < 90) return s + ' s';
    if (s < 90 * 60) return Math.round(s / 60) + ' min';
    if (s < 48 * 3600) {
      const h = Math.floor(s / 3600), m = Math.round((s % 3600) / 60);
      return h + ' h' + (m ? ' ' + m + ' min' : '');
    }
    return Math.round(s / 86400) + ' days';
  }

  async function testConnector(c, out, btn) {
    btn.disabled = true;
    out.className = 'test-result pending';
    out.textContent = 'Requesting a credential from the provider…';
    let res;
    try {
      // Only ok, expiresIn and scope are read: the test never yields a token.
      const r = await api('connectors-test', { name: c.name });
      res = { cls: 'ok', text: '✓ Connection works: the provider issued a credential that expires in ' + duration(r.expiresIn) + (r.scope ? '. Granted scope: ' + r.scope : '') + '.' };
    } catch (e) {
      res = { cls: 'fail', text: '✗ ' + testFailure(e) };
    } finally {
      btn.disabled = false;
    }
    state.tests.set(c.name, res);
    out.className = 'test-result ' + res.cls;
    out.textContent = res.text;
  }

  function testFailure(e) {
    if (!(e instanceof ApiError)) return String(e);
    if (e.upstream) {
      const u = e.upstream;
      let s = 'The provider refused (HTTP ' + u.status + ')';
      if (u.error) s += ': ' + u.error;
      if (u.error_description) s += ' — ' + u.error_description;
      return s;
    }
    if (e.code === 'upstream_timeout') return 'The provider did not answer in time or could not be reached.';
    return describe(e, 'Test failed');
  }

  // ---------- Form ----------

  const form = $('connector-form');
  const formBody = $('form-body');
  const formToggle = $('form-toggle');

  function setFormOpen(open) {
    formBody.hidden = !open;
    formToggle.setAttribute('aria-expanded', String(open));
  }

  function grantType() { return $('f-grantType').value.trim(); }

  function updateGrantFields() {
    const g = grantType();
    for (const f of form.querySelectorAll('[data-grant]')) f.hidden = f.dataset.grant !== g;
    for (const f of form.querySelectorAll('[data-oauth]')) f.hidden = !!GRANT_SPECIAL[g];
    const labels = {
      gcs_service_account: ['Project ID', 'Optional: the GCP project ID.', 'Service account JSON key', 'Paste the entire JSON content of the service account key file.'],
      aws_iam: ['AWS access key ID', 'The access key ID of the AWS key pair.', 'AWS secret access key', 'The secret access key; it never leaves the service.'],
    }[g] || ['Client ID', 'The client ID the OAuth service gave you.', 'Client secret', 'The client secret the OAuth service gave you.'];
    $('l-clientId').textContent = labels[0];
    $('h-clientId').textContent = labels[1];
    $('l-clientSecret').textContent = labels[2];
    $('h-clientSecret').textContent = labels[3];
    $('f-url').placeholder = GRANT_SPECIAL[g] ? 'not needed for ' + g : 'https://auth.example.com/oauth/token';
  }

  function renderAgentOptions() {
    const box = $('agent-options');
    const all = sortedUnique(state.knownAgents.concat(state.formAgents));
    box.replaceChildren(...all.map((a) => {
      const input = el('input', { type: 'checkbox', value: a, checked: state.formAgents.includes(a) });
      input.addEventListener('change', () => {
        if (input.checked) { if (!state.formAgents.includes(a)) state.formAgents.push(a); }
        else state.formAgents = state.formAgents.filter((x) => x !== a);
      });
      return el('label', { class: 'agent-option' }, input, el('span', { text: a }));
    }));
  }

  function addTypedAgent() {
    const input = $('agent-new');
    const a = input.value.trim();
    if (!a) return;
    if (!state.formAgents.includes(a)) state.formAgents.push(a);
    input.value = '';
    renderAgentOptions();
  }

  function addExtraRow(key, value) {
    const k = el('input', { type: 'text', class: 'extra-key', placeholder: 'name (e.g. audience)', 'aria-label': 'Parameter name', spellcheck: 'false', value: key || '' });
    const v = el('input', { type: 'text', class: 'extra-value', placeholder: 'value', 'aria-label': 'Parameter value', spellcheck: 'false', value: value || '' });
    const row = el('div', { class: 'extra-row' }, k, v,
      el('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Remove parameter', title: 'Remove', text: '×', onclick: () => row.remove() }));
    $('extra-rows').append(row);
    return k;
  }

  function clearErrors() {
    for (const e of form.querySelectorAll('.error')) { e.hidden = true; e.textContent = ''; }
    for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
  }

  // fieldError shows an API error next to its field; false if the page has no
  // visible field for it.
  function fieldError(field, message) {
    let key = field.replace(/^changes\./, '');
    let prefix = '';
    const agent = /^agents\[(\d+)\]/.exec(key);
    if (agent) {
      key = 'agents';
      const a = lastSent && lastSent.agents ? lastSent.agents[Number(agent[1])] : '';
      if (a) prefix = 'Agent “' + a + '” ';
    } else if (key.startsWith('extraParams.')) {
      prefix = 'Parameter “' + key.slice('extraParams.'.length) + '” ';
      key = 'extraParams';
    }
    const err = $('e-' + key);
    const wrap = form.querySelector('[data-field="' + key + '"]');
    if (!err || !wrap || wrap.hidden) return false;
    err.textContent = prefix + message;
    err.hidden = false;
    const input = $('f-' + key);
    if (input) input.setAttribute('aria-invalid', 'true');
    return true;
  }

  function focusFirstError() {
    const e = form.querySelector('.error:not([hidden])');
    if (!e) return;
    const wrap = e.closest('.field');
    const input = wrap && wrap.querySelector('input, select');
    wrap.scrollIntoView({ block: 'center' });
    if (input) input.focus({ preventScroll: true });
  }

  function resetForm() {
    form.reset();
    clearErrors();
    state.editing = null;
    state.formAgents = state.agent ? [state.agent] : [];
    $('extra-rows').replaceChildren();
    for (const f of SECRET_FIELDS) $('f-' + f).placeholder = '';
    $('f-grantType').value = 'client_credentials';
    $('f-preset').value = '';
    $('preset-params').replaceChildren();
    $('preset-field').hidden = false;
    $('form-title').textContent = 'New Connector';
    $('form-intro').textContent = 'Define where and how a credential is minted, and which agents may use it. Secrets are stored in the secret store and are never shown again.';
    $('submit').textContent = 'Create Connector';
    renderAgentOptions();
    updateGrantFields();
  }

  function startEdit(c) {
    hideBanner();
    resetForm();
    state.editing = { name: c.name, revision: c.revision, original: c };
    $('preset-field').hidden = true; // presets are for create only
    $('form-title').textContent = 'Edit ' + c.name;
    $('form-intro').textContent = 'Change any field; renaming keeps the stored secrets. Secret fields left blank stay unchanged.';
    $('submit').textContent = 'Save Changes';
    $('f-name').value = c.name;
    $('f-active').checked = !!c.active;
    $('f-headerAsPayload').checked = !!c.headerAsPayload;
    state.formAgents = (c.agents || []).slice();
    $('f-url').value = c.url || '';
    $('f-apiBaseUrl').value = c.apiBaseUrl || '';
    $('f-grantType').value = c.grantType || '';
    $('f-contentType').value = c.contentType || 'application/x-www-form-urlencoded';
    $('f-scope').value = c.scope || '';
    $('f-clientId').value = c.clientId || '';
    $('f-username').value = c.username || '';
    $('f-serviceAccountEmail').value = c.serviceAccountEmail || '';
    $('f-maxTokenLifetime').value = c.maxTokenLifetime ? String(c.maxTokenLifetime) : '';
    const has = { clientSecret: c.hasClientSecret, refreshToken: c.hasRefreshToken, password: c.hasPassword, nextClientSecret: c.hasNextClientSecret };
    for (const f of SECRET_FIELDS) {
      const input = $('f-' + f);
      input.value = '';
      input.placeholder = has[f] ? 'unchanged' : 'not set';
    }
    for (const k of Object.keys(c.extraParams || {}).sort()) addExtraRow(k, c.extraParams[k]);
    renderAgentOptions();
    updateGrantFields();
    setFormOpen(true);
    $('form-card').scrollIntoView({ block: 'start' });
    $('f-name').focus({ preventScroll: true });
  }

  function readExtraParams() {
    const out = {};
    let problem = '';
    for (const row of $('extra-rows').querySelectorAll('.extra-row')) {
      const k = row.querySelector('.extra-key').value.trim();
      const v = row.querySelector('.extra-value').value;
      if (!k && !v) continue;
      if (!k) { problem = 'Every parameter needs a name.'; continue; }
      if (Object.prototype.hasOwnProperty.call(out, k)) { problem = 'Parameter “' + k + '” is given twice.'; continue; }
      out[k] = v;
    }
    return { params: out, problem: problem };
  }

  function readForm() {
    addTypedAgent(); // an agent typed but not yet added counts
    const g = grantType();
    const v = {
      name: $('f-name').value.trim(),
      active: $('f-active').checked,
      headerAsPayload: $('f-headerAsPayload').checked,
      agents: state.formAgents.slice(),
      url: $('f-url').value.trim(),
      apiBaseUrl: $('f-apiBaseUrl').value.trim(),
      grantType: g,
      contentType: $('f-contentType').value,
      scope: $('f-scope').value.trim(),
      clientId: $('f-clientId').value.trim(),
      serviceAccountEmail: $('f-serviceAccountEmail').value.trim(),
    };
    if (g === 'password') v.username = $('f-username').value.trim();
    // maxTokenLifetime: a number for the API, which judges its range; text
    // that is no whole number goes as is, to be refused on the field.
    const life = $('f-maxTokenLifetime').value.trim();
    if (!$('f-maxTokenLifetime').closest('.field').hidden) v.maxTokenLifetime = life === '' ? 0 : (/^\d+$/.test(life) ? Number(life) : life);
    // Secrets: only what was typed, and only for fields the grant type shows.
    const secrets = {};
    for (const f of SECRET_FIELDS) {
      const wrap = form.querySelector('[data-field="' + f + '"]');
      const value = $('f-' + f).value;
      if (value !== '' && !wrap.hidden) secrets[f] = value;
    }
    return { v: v, secrets: secrets };
  }

  function sameList(a, b) { return a.length === b.length && a.every((x, i) => x === b[i]); }
  function sameMap(a, b) {
    const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
    return sameList(ka, kb) && ka.every((k) => a[k] === b[k]);
  }

  let lastSent = null;
  let saving = false;

  async function submit(ev) {
    ev.preventDefault();
    if (saving) return;
    clearErrors();
    hideBanner();
    const { v, secrets } = readForm();
    const extra = readExtraParams();
    if (extra.problem) {
      fieldError('extraParams', extra.problem);
      focusFirstError();
      return;
    }
    const editing = state.editing;
    let fn, body, sent;
    if (editing) {
      const o = editing.original;
      const changes = {};
      for (const k of ['name', 'url', 'apiBaseUrl', 'grantType', 'contentType', 'scope', 'clientId', 'serviceAccountEmail', 'username']) {
        if (k in v && v[k] !== (o[k] || '')) changes[k] = v[k];
      }
      if ('maxTokenLifetime' in v && v.maxTokenLifetime !== (o.maxTokenLifetime || 0)) changes.maxTokenLifetime = v.maxTokenLifetime;
      if (v.active !== !!o.active) changes.active = v.active;
      if (v.headerAsPayload !== !!o.headerAsPayload) changes.headerAsPayload = v.headerAsPayload;
      if (!sameList(v.agents, o.agents || [])) changes.agents = v.agents;
      if (!sameMap(extra.params, o.extraParams || {})) changes.extraParams = extra.params;
      Object.assign(changes, secrets);
      if (Object.keys(changes).length === 0) {
        showBanner('info', 'Nothing to save: no field was changed.');
        return;
      }
      fn = 'connectors-update';
      body = { name: editing.name, revision: editing.revision, changes: changes };
      sent = changes;
    } else {
      body = { name: v.name, active: v.active, headerAsPayload: v.headerAsPayload, agents: v.agents, grantType: v.grantType, contentType: v.contentType };
      for (const k of ['url', 'apiBaseUrl', 'scope', 'clientId', 'serviceAccountEmail', 'username']) if (v[k]) body[k] = v[k];
      if (Object.keys(extra.params).length) body.extraParams = extra.params;
      if (v.maxTokenLifetime) body.maxTokenLifetime = v.maxTokenLifetime;
      Object.assign(body, secrets);
      const preset = $('f-preset').value;
      if (preset) {
        // The preset's client authentication decides the header switch.
        body.preset = preset;
        body.presetParams = presetParams();
        delete body.headerAsPayload;
      }
      fn = 'connectors-create';
      sent = body;
    }
    lastSent = sent;
    saving = true;
    $('submit').disabled = true;
    try {
      const saved = await api(fn, body);
      // Typed secrets leave the page as soon as they are stored.
      for (const f of SECRET_FIELDS) $('f-' + f).value = '';
      if (editing && editing.name !== saved.name) {
        // A renamed connector keeps its place: expanded if it was.
        if (state.expanded.delete(editing.name)) state.expanded.add(saved.name);
        state.tests.delete(editing.name);
      }
      state.tests.delete(saved.name);
      resetForm();
      setFormOpen(false);
      showBanner('success', editing
        ? (editing.name !== saved.name ? 'Saved ' + editing.name + ' as ' + saved.name + '.' : 'Saved changes to ' + saved.name + '.')
        : 'Created ' + saved.name + '.');
      await refresh();
    } catch (e) {
      handleSaveError(e, editing);
    } finally {
      saving = false;
      $('submit').disabled = false;
    }
  }

  function handleSaveError(e, editing) {
    if (!(e instanceof ApiError)) { showBanner('error', describe(e, 'Could not save')); return; }
    if (e.code === 'conflict' && editing) {
      showBanner('error', editing.name + ' was changed by someone else after you opened it, so your changes were not saved. Load the latest version and make your changes again.',
        { label: 'Load latest version', run: () => reloadEdit(editing.name) });
      return;
    }
    if (e.code === 'not_found' && editing) {
      showBanner('error', editing.name + ' no longer exists; someone may have deleted it.', { label: 'Refresh list', run: () => { resetForm(); setFormOpen(false); refresh(); } });
      return;
    }
    if ((e.field && e.code === 'invalid_argument') || e.code === 'already_exists') {
      if (fieldError(e.field || 'name', e.message)) {
        focusFirstError();
        return;
      }
    }
    showBanner('error', describe(e, editing ? 'Could not save ' + editing.name : 'Could not create the connector'));
  }

  async function reloadEdit(name) {
    try {
      const c = await api('connectors-get', { name: name });
      startEdit(c);
      showBanner('info', 'Loaded the latest version of ' + name + '.');
      refresh();
    } catch (e) {
      showBanner('error', describe(e, 'Could not load ' + name));
    }
  }

  // ---------- Delete ----------

  // The connector the open confirmation is about. The buttons act on it
  // directly: a dialog's close event arrives later, possibly after the
  // dialog was opened again.
  let pendingDelete = null;

  function confirmDelete(c) {
    const dlg = $('confirm-delete');
    if (typeof dlg.showModal !== 'function') {
      if (window.confirm('Delete connector ' + c.name + ' and its stored secrets?')) doDelete(c);
      return;
    }
    $('confirm-name').textContent = c.name;
    pendingDelete = c;
    dlg.showModal();
    $('confirm-cancel').focus();
  }

  async function doDelete(c) {
    hideBanner();
    try {
      await api('connectors-delete', { name: c.name, revision: c.revision });
      state.expanded.delete(c.name);
      state.tests.delete(c.name);
      if (state.editing && state.editing.name === c.name) { resetForm(); setFormOpen(false); }
      showBanner('success', 'Deleted ' + c.name + '.');
    } catch (e) {
      if (e instanceof ApiError && e.code === 'conflict') {
        showBanner('error', c.name + ' was changed by someone else since the list was loaded; it was not deleted. Review it and try again.');
      } else {
        showBanner('error', describe(e, 'Could not delete ' + c.name));
      }
    }
    await refresh();
  }

  // ---------- Wiring ----------

  formToggle.addEventListener('click', () => {
    const open = formBody.hidden;
    setFormOpen(open);
    if (open) $('f-name').focus();
  });
  form.addEventListener('submit', submit);
  $('cancel').addEventListener('click', () => { resetForm(); setFormOpen(false); hideBanner(); });
  $('f-grantType').addEventListener('input', updateGrantFields);
  $('agent-add').addEventListener('click', addTypedAgent);
  $('agent-new').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') { ev.preventDefault(); addTypedAgent(); }
  });
  $('extra-add').addEventListener('click', () => addExtraRow().focus());
  $('banner-close').addEventListener('click', hideBanner);
  $('refresh').addEventListener('click', refresh);
  $('confirm-cancel').addEventListener('click', () => { pendingDelete = null; $('confirm-delete').close('cancel'); });
  $('confirm-ok').addEventListener('click', () => {
    const c = pendingDelete;
    pendingDelete = null;
    $('confirm-delete').close('delete');
    if (c) doDelete(c);
  });
  $('confirm-delete').addEventListener('cancel', () => { pendingDelete = null; });
  $('agent-filter').addEventListener('change', () => {
    state.agent = $('agent-filter').value;
    const u = new URL(location.href);
    if (state.agent) u.searchParams.set('agent', state.agent); else u.searchParams.delete('agent');
    history.replaceState(null, '', u);
    if (!state.editing) { state.formAgents = state.agent ? [state.agent] : []; renderAgentOptions(); }
    refresh();
  });
  // Clearing an error once the field is edited.
  form.addEventListener('input', (ev) => {
    const wrap = ev.target.closest('.field');
    if (!wrap) return;
    const err = wrap.querySelector('.error');
    if (err) { err.hidden = true; err.textContent = ''; }
    if (ev.target.removeAttribute) ev.target.removeAttribute('aria-invalid');
  });

  for (const p of PRESETS) $('f-preset').append(el('option', { value: p.id, text: p.title }));
  $('f-preset').addEventListener('change', renderPresetParams);

  resetForm();
  showConnectOutcome();
  refresh();
})();
