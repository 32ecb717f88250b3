// Agent settings: the configuration Loupe agents fetch (docs/format/agent-protocol.md) for the
// project default or one service's override: equalizer bands, active-stack sampling,
// throttling with per-endpoint limits, and dynamic-profiling method patterns.

import { ApiError, isUnsupported } from '../api/client';
import type { AgentConfig } from '../api/types';
import type { App, PageHandle } from '../app';
import { configToForm, formChanged, formToBody, MAX_ENDPOINT_LIMITS, MAX_PATTERNS } from '../data/agentconfig';
import type { ConfigForm, FieldError } from '../data/agentconfig';
import type { Route } from '../data/urlstate';
import { h, note, replace } from '../ui/dom';

export function agentSettingsPage(app: App, route: Route): PageHandle {
  let ac = new AbortController();
  let service = route.params.service ?? '';
  let loaded: AgentConfig | null = null;
  let form: ConfigForm | null = null;
  let errors: FieldError[] = [];
  let saving = false;

  // ---- Target (project default or a service)
  const targetSel = h('select', { class: 'sel', testid: 'settings-target', attrs: { 'aria-label': 'Configuration of' } });
  targetSel.addEventListener('change', () => {
    if (form && loaded && formChanged(form, loaded) && !window.confirm('Discard the unsaved changes?')) {
      targetSel.value = service;
      return;
    }
    app.setParams({ service: targetSel.value }, true);
  });
  const versionInfo = h('span', { class: 'status-line', testid: 'settings-version' });
  const scopeInfo = h('span', { class: 'muted small-text', testid: 'settings-scope' });

  // ---- Inputs
  const numIn = (testid: string, label: string, attrs: Record<string, string> = {}) =>
    h('input', { class: 'inp num-in', testid, attrs: { type: 'number', step: 'any', 'aria-label': label, ...attrs } });
  const band0 = numIn('cfg-band0', 'Slow from (ms)', { min: '1' });
  const band1 = numIn('cfg-band1', 'Very slow from (ms)', { min: '1' });
  const band2 = numIn('cfg-band2', 'Fourth band from (ms, optional)', { min: '1' });
  const threshold = numIn('cfg-threshold', 'Sample transactions running longer than (ms)', { min: '0', step: '1' });
  const interval = numIn('cfg-interval', 'Sampling interval (ms)', { min: '100', max: '60000', step: '1' });
  const enabled = h('input', { testid: 'cfg-throttle-enabled', attrs: { type: 'checkbox' } });
  const maxActive = numIn('cfg-max-active', 'Max active transactions per instance', { min: '0', max: '1000000', step: '1' });
  const action = h('select', { class: 'sel', testid: 'cfg-action', attrs: { 'aria-label': 'Action' } },
    h('option', { text: 'Reject (503)', attrs: { value: 'reject' } }), h('option', { text: 'Redirect (302)', attrs: { value: 'redirect' } }));
  const redirect = h('input', { class: 'inp wide', testid: 'cfg-redirect', attrs: { type: 'text', placeholder: '/busy.html or https://…', spellcheck: 'false', 'aria-label': 'Redirect URL' } });
  const epRows = h('tbody');
  const epAdd = h('button', { class: 'btn small', text: '+ Add endpoint limit', testid: 'cfg-add-endpoint', attrs: { type: 'button' } });
  const epCount = h('span', { class: 'muted small-text' });
  const patList = h('ul', { class: 'pattern-list', testid: 'cfg-patterns' });
  const patIn = h('input', { class: 'inp wide', testid: 'cfg-pattern-input', attrs: { type: 'text', placeholder: 'orders::*  or  payment::Charge', spellcheck: 'false', maxlength: '256', 'aria-label': 'Method pattern' } });
  const patAdd = h('button', { class: 'btn small', text: 'Add', testid: 'cfg-add-pattern', attrs: { type: 'button' } });
  const patCount = h('span', { class: 'muted small-text' });

  const errBox = h('div', { class: 'form-errors', testid: 'settings-errors', attrs: { role: 'alert' } });
  const saveMsg = h('div', { class: 'save-msg', testid: 'settings-saved', attrs: { role: 'status' } });
  const saveBtn = h('button', { class: 'btn primary', text: 'Save', testid: 'settings-save', attrs: { type: 'submit' } });
  const revertBtn = h('button', { class: 'btn', text: 'Revert', testid: 'settings-revert', attrs: { type: 'button' } });
  const removeBtn = h('button', { class: 'btn danger hidden', text: 'Remove service override', testid: 'settings-remove', attrs: { type: 'button' } });
  const dirtyMark = h('span', { class: 'warn-text small-text hidden', text: 'Unsaved changes' });

  const row = (label: string, input: HTMLElement, help = '') =>
    h('label', { class: 'form-row' }, h('span', { class: 'form-label', text: label }), input, help ? h('span', { class: 'form-help', text: help }) : null);

  const formEl = h('form', { class: 'settings-form', testid: 'settings-form', attrs: { novalidate: '' } },
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Equalizer bands' })),
      h('div', { class: 'panel-body form-grid' },
        row('Slow from', band0, 'ms · active transactions running this long count as slow'),
        row('Very slow from', band1, 'ms · and this long as very slow'),
        row('4th band from', band2, 'ms · optional (JENNIFER-style 4 bands); leave empty for 3'))),
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Active stack' })),
      h('div', { class: 'panel-body form-grid' },
        row('Sample after', threshold, 'ms · agents sample the stacks of transactions running longer than this'),
        row('Interval', interval, 'ms · between two samples of one transaction'))),
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Throttling' })),
      h('div', { class: 'panel-body form-grid' },
        h('label', { class: 'form-row chk' }, enabled, h('span', { text: 'Limit active transactions per instance' })),
        row('Max active', maxActive, 'per instance; requests beyond it are throttled (0: no per-instance limit)'),
        row('Action', action, 'reject answers 503; redirect answers 302 to the URL below'),
        row('Redirect URL', redirect, 'a path on the same site or an http(s) URL'),
        h('div', { class: 'form-sub' },
          h('div', { class: 'form-sub-head' }, h('span', { class: 'form-label', text: 'Per-endpoint limits' }), epCount, h('div', { class: 'header-spacer' }), epAdd),
          h('table', { class: 'tbl compact ep-limits', testid: 'cfg-endpoints' },
            h('thead', null, h('tr', null, h('th', { text: 'Endpoint' }), h('th', { class: 'num', text: 'Max active' }), h('th'))),
            epRows)))),
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Dynamic profiling' })),
      h('div', { class: 'panel-body' },
        h('p', { class: 'muted small-text', text: 'Method steps whose name matches one of these patterns are recorded; others are off. * matches any run of characters, ? one character. Applies without restarting the application.' }),
        h('div', { class: 'form-sub-head' }, patIn, patAdd, patCount),
        patList)),
    h('div', { class: 'form-actions panel' }, errBox, h('div', { class: 'form-buttons' }, saveBtn, revertBtn, dirtyMark, h('div', { class: 'header-spacer' }), removeBtn), saveMsg),
  );
  const body = h('div', { class: 'settings-body' }, note('Loading…'));

  const el = h(
    'div',
    { class: 'settings-page', testid: 'agent-settings' },
    h('section', { class: 'panel' },
      h('div', { class: 'toolbar' },
        h('label', { class: 'fld' }, h('span', { text: 'Configuration of' }), targetSel),
        scopeInfo,
        h('div', { class: 'header-spacer' }),
        versionInfo)),
    body,
  );

  // ---- Form ↔ inputs
  function fillInputs(f: ConfigForm): void {
    band0.value = f.bands[0];
    band1.value = f.bands[1];
    band2.value = f.bands[2];
    threshold.value = f.thresholdMs;
    interval.value = f.intervalMs;
    enabled.checked = f.throttleEnabled;
    maxActive.value = f.maxActive;
    action.value = f.action === 'redirect' ? 'redirect' : 'reject';
    redirect.value = f.redirectUrl;
    renderEndpoints();
    renderPatterns();
    syncEnabled();
  }

  function readInputs(): void {
    if (!form) return;
    form.bands = [band0.value, band1.value, band2.value];
    form.thresholdMs = threshold.value;
    form.intervalMs = interval.value;
    form.throttleEnabled = enabled.checked;
    form.maxActive = maxActive.value;
    form.action = action.value;
    form.redirectUrl = redirect.value;
  }

  function syncEnabled(): void {
    formEl.classList.toggle('throttle-off', !enabled.checked);
    redirect.closest('.form-row')?.classList.toggle('dim', action.value !== 'redirect');
  }

  function renderEndpoints(): void {
    if (!form) return;
    const f = form;
    replace(epRows, ...f.endpoints.map((e, i) => {
      const ep = h('input', { class: 'inp wide', testid: 'cfg-endpoint-name', attrs: { type: 'text', placeholder: 'POST /checkout', spellcheck: 'false', 'aria-label': 'Endpoint', 'data-field': 'endpoints.' + i } });
      ep.value = e.endpoint;
      ep.addEventListener('input', () => {
        e.endpoint = ep.value;
        changed();
      });
      const lim = h('input', { class: 'inp num-in', testid: 'cfg-endpoint-limit', attrs: { type: 'number', min: '1', max: '1000000', step: '1', 'aria-label': 'Max active for this endpoint', 'data-field': 'endpoints.' + i } });
      lim.value = e.limit;
      lim.addEventListener('input', () => {
        e.limit = lim.value;
        changed();
      });
      const rm = h('button', { class: 'btn small ghost', text: 'Remove', testid: 'cfg-endpoint-remove', attrs: { type: 'button', 'aria-label': 'Remove this limit' } });
      rm.addEventListener('click', () => {
        f.endpoints.splice(i, 1);
        renderEndpoints();
        changed();
      });
      return h('tr', { attrs: { 'data-row': String(i) } }, h('td', null, ep), h('td', { class: 'num' }, lim), h('td', null, rm));
    }));
    if (f.endpoints.length === 0) epRows.appendChild(h('tr', null, h('td', { class: 'muted', text: 'No per-endpoint limits.', attrs: { colspan: '3' } })));
    epCount.textContent = f.endpoints.length + ' / ' + MAX_ENDPOINT_LIMITS;
    epAdd.disabled = f.endpoints.length >= MAX_ENDPOINT_LIMITS;
  }

  function renderPatterns(): void {
    if (!form) return;
    const f = form;
    replace(patList, ...f.methods.map((m, i) =>
      h('li', { class: 'pattern', testid: 'cfg-pattern', attrs: { 'data-field': 'methods.' + i } },
        h('span', { class: 'mono', text: m }),
        h('button', { class: 'btn small ghost', text: 'Remove', attrs: { type: 'button', 'aria-label': 'Remove pattern' }, on: { click: () => {
          f.methods.splice(i, 1);
          renderPatterns();
          changed();
        } } }))));
    if (f.methods.length === 0) patList.appendChild(h('li', { class: 'muted', text: 'No method patterns: method profiling is off.' }));
    patCount.textContent = f.methods.length + ' / ' + MAX_PATTERNS;
    patAdd.disabled = f.methods.length >= MAX_PATTERNS;
  }

  function showErrors(list: FieldError[], serverMsg = ''): void {
    for (const x of formEl.querySelectorAll('.invalid')) x.classList.remove('invalid');
    const byField: Record<string, HTMLElement[]> = {
      bands: [band0, band1, band2], threshold_ms: [threshold], interval_ms: [interval], max_active: [maxActive], action: [action], redirect_url: [redirect],
    };
    for (const e of list) {
      for (const x of byField[e.field] ?? []) x.classList.add('invalid');
      for (const x of formEl.querySelectorAll('[data-field="' + CSS.escape(e.field) + '"]')) x.classList.add('invalid');
    }
    const lines = list.map((e) => e.message);
    if (serverMsg) lines.push(serverMsg);
    replace(errBox, ...lines.map((l) => h('div', { class: 'err-text', text: l })));
  }

  function changed(): void {
    readInputs();
    syncEnabled();
    saveMsg.textContent = '';
    if (!form || !loaded) return;
    dirtyMark.classList.toggle('hidden', !formChanged(form, loaded));
    // Re-check only what was already flagged, so errors go away as they are fixed but do not
    // appear while typing.
    if (errors.length) {
      errors = formToBody(form).errors;
      showErrors(errors);
    }
  }
  for (const x of [band0, band1, band2, threshold, interval, maxActive, redirect]) x.addEventListener('input', changed);
  enabled.addEventListener('change', changed);
  action.addEventListener('change', changed);

  epAdd.addEventListener('click', () => {
    if (!form) return;
    form.endpoints.push({ endpoint: '', limit: '' });
    renderEndpoints();
    changed();
    const inputs = epRows.querySelectorAll<HTMLInputElement>('[data-testid=cfg-endpoint-name]');
    inputs[inputs.length - 1]?.focus();
  });
  const addPattern = () => {
    if (!form) return;
    const v = patIn.value.trim();
    if (!v) return;
    if (!form.methods.includes(v)) form.methods.push(v);
    patIn.value = '';
    renderPatterns();
    changed();
  };
  patAdd.addEventListener('click', addPattern);
  patIn.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      addPattern();
    }
  });

  function showLoaded(cfg: AgentConfig, message = ''): void {
    loaded = cfg;
    form = configToForm(cfg);
    errors = [];
    fillInputs(form);
    showErrors([]);
    dirtyMark.classList.add('hidden');
    versionInfo.textContent = 'Version ' + cfg.version + ' · changes apply to agents within 5 s';
    versionInfo.setAttribute('data-version', String(cfg.version));
    scopeInfo.textContent = !service
      ? 'Project default: used by every service without its own override.'
      : cfg.overridden
        ? 'Service override for ' + service + '.'
        : service + ' has no override and follows the project default; saving creates an override.';
    removeBtn.classList.toggle('hidden', !service || !cfg.overridden);
    saveMsg.textContent = message;
    if (body.firstChild !== formEl) replace(body, formEl);
    el.setAttribute('data-loaded', '1');
  }

  formEl.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!form || saving) return;
    readInputs();
    const res = formToBody(form);
    errors = res.errors;
    showErrors(errors);
    if (!res.body) {
      saveMsg.textContent = '';
      return;
    }
    saving = true;
    saveBtn.disabled = true;
    saveMsg.textContent = 'Saving…';
    const target = service;
    app.api
      .putAgentConfig(target, res.body, ac.signal)
      .then((cfg) => {
        if (target !== service) return;
        showLoaded(cfg, 'Saved as version ' + cfg.version + '. Agents ' + (target ? 'of ' + target + ' ' : '') + 'apply it within 5 s.');
      })
      .catch((err: unknown) => {
        if (err instanceof DOMException && err.name === 'AbortError') return;
        saveMsg.textContent = '';
        // The server's validation message ({"error":{"code","message"}}) is shown as sent.
        showErrors(errors, err instanceof ApiError ? 'The server refused the configuration (' + err.status + ' ' + err.code + '): ' + err.message : 'Saving failed: ' + String(err));
      })
      .finally(() => {
        saving = false;
        saveBtn.disabled = false;
      });
  });
  revertBtn.addEventListener('click', () => {
    if (loaded) showLoaded(loaded);
  });
  removeBtn.addEventListener('click', () => {
    if (!service || !window.confirm('Remove the override of ' + service + '? Its agents will follow the project default.')) return;
    const target = service;
    app.api
      .deleteAgentConfig(target, ac.signal)
      .then(() => app.api.agentConfig(target, ac.signal))
      .then((cfg) => {
        if (target === service) showLoaded(cfg, 'Override removed: ' + target + ' follows the project default (version ' + cfg.version + ').');
      })
      .catch((err: unknown) => {
        if (err instanceof DOMException && err.name === 'AbortError') return;
        showErrors([], 'Could not remove the override: ' + (err instanceof Error ? err.message : String(err)));
      });
  });

  function fillTargets(): void {
    app.instances().then((list) => {
      const names = Array.from(new Set(list.map((i) => i.service).filter(Boolean)));
      if (service && !names.includes(service)) names.push(service);
      names.sort();
      replace(targetSel, h('option', { text: 'Project default', attrs: { value: '' } }), ...names.map((n) => h('option', { text: 'Service: ' + n, attrs: { value: n } })));
      targetSel.value = service;
    }).catch(() => {
      replace(targetSel, h('option', { text: 'Project default', attrs: { value: '' } }), ...(service ? [h('option', { text: 'Service: ' + service, attrs: { value: service } })] : []));
      targetSel.value = service;
    });
  }

  function load(): void {
    ac.abort();
    ac = new AbortController();
    loaded = null;
    form = null;
    el.removeAttribute('data-loaded');
    versionInfo.textContent = '';
    scopeInfo.textContent = '';
    replace(body, note('Loading the agent configuration…'));
    app.api
      .agentConfig(service, ac.signal)
      .then((cfg) => showLoaded(cfg))
      .catch((e: unknown) => {
        if (e instanceof DOMException && e.name === 'AbortError') return;
        replace(body, isUnsupported(e)
          ? h('div', { class: 'note note-error', testid: 'unsupported', text: 'This Loupe server does not provide agent settings (GET /api/v1/agent-config answered ' + (e as ApiError).status + '). Upgrade the server to a version with agent support.' })
          : note('Could not load the agent configuration: ' + (e instanceof Error ? e.message : String(e)), 'error'));
      });
  }

  fillTargets();
  load();
  return {
    el,
    update(next: Route) {
      const s = next.params.service ?? '';
      if (s !== service) {
        service = s;
        fillTargets();
        load();
      }
      return true;
    },
    dispose() {
      ac.abort();
    },
  };
}
