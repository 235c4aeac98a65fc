// Consent: an app asked (through /oauth/authorize) to connect to the patient's record. Shows in
// plain words who is asking and what the app will see, then sends the browser back to the app
// with the server's answer (a one-time code, or access_denied). Also the "connected apps" list
// with a way to disconnect each one.

import { h, showError, setBusy } from '../dom.js';
import { request } from '../api.js';

const consentApi = {
  get: (id) => request('GET', `/oauth/requests/${encodeURIComponent(id)}`),
  approve: (id) => request('POST', `/oauth/requests/${encodeURIComponent(id)}/approve`, {}),
  deny: (id) => request('POST', `/oauth/requests/${encodeURIComponent(id)}/deny`, {}),
  apps: () => request('GET', '/apps'),
  revoke: (clientId) => request('POST', `/apps/${encodeURIComponent(clientId)}/revoke`, {}),
};

// the redirect target comes from the server, which only ever answers with a registered URI
function leaveTo(url) {
  window.location.assign(url);
}

export function consentView({ requestId, onDone, onError }) {
  const view = h('div', { class: 'view view-consent' });
  const card = h('section', { class: 'card narrow', 'aria-labelledby': 'consent-heading' },
    h('h1', { id: 'consent-heading', tabindex: '-1' }, 'Connect an app'),
    h('p', { class: 'muted' }, 'Loading the request…'));
  view.appendChild(card);

  function fail(err) {
    while (card.firstChild) card.removeChild(card.firstChild);
    card.appendChild(h('h1', { id: 'consent-heading', tabindex: '-1' }, 'This request cannot be answered'));
    card.appendChild(h('p', { role: 'alert', class: 'alert alert-error' },
      err && err.message && err.status === 404 ? err.message : 'The request to connect an app could not be loaded. Start again from the app.'));
    card.appendChild(h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => onDone() }, 'Go to my health summary'));
  }

  consentApi.get(requestId).then((req) => {
    while (card.firstChild) card.removeChild(card.firstChild);
    const error = h('div', { id: 'consent-error', class: 'alert alert-error', role: 'alert', hidden: true });
    const allow = h('button', { type: 'button', class: 'btn btn-primary' }, 'Allow access');
    const deny = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Deny');
    const seeList = h('ul', { class: 'consent-list' }, req.will_see.map((line) => h('li', null, line)));
    // a staff member who launched an organisation's app from a patient's chart (EHR launch)
    // answers for themselves: the app will act with their access to this patient's chart
    const staff = req.ehr_launch === true;
    card.append(
      h('h1', { id: 'consent-heading', tabindex: '-1' }, staff
        ? `Open ${req.client.name} for this patient?`
        : `Allow ${req.client.name} to see your health record?`),
      error,
      h('p', null, h('strong', null, req.client.name),
        req.client.owner ? ` (from ${req.client.owner})` : '', staff
          ? ' will act for you in the chart you opened it from. What it reads is recorded in the audit log under your name.'
          : ' is asking to connect to your record.'),
      req.client.purpose ? h('p', { class: 'hint' }, req.client.purpose) : null,
      h('h2', null, staff ? 'If you allow it, the app will see (as far as your access goes):' : 'If you allow it, the app will see:'),
      seeList,
      h('p', { class: 'hint' }, `After you answer you will be sent back to ${req.redirect_host}. ` +
        'You can disconnect the app at any time from "Connected apps"; it then loses access at once.'),
      h('div', { class: 'actions' }, allow, deny));

    async function answer(approve) {
      showError(error, '');
      allow.disabled = true;
      deny.disabled = true;
      setBusy(approve ? allow : deny, true, approve ? 'Allowing…' : 'Denying…');
      try {
        const res = approve ? await consentApi.approve(requestId) : await consentApi.deny(requestId);
        leaveTo(res.redirect);
      } catch (err) {
        setBusy(approve ? allow : deny, false);
        allow.disabled = false;
        deny.disabled = false;
        if (err.status === 401) { onError(err); return; }
        showError(error, err.status === 404 ? err.message : 'Your answer could not be sent. Please try again.');
      }
    }
    allow.addEventListener('click', () => answer(true));
    deny.addEventListener('click', () => answer(false));
    const heading = card.querySelector('h1');
    if (heading) heading.focus();
  }).catch((err) => {
    if (err.status === 401) onError(err);
    else fail(err);
  });

  return { node: view, title: 'Connect an app' };
}

export function appsView({ onError }) {
  const view = h('div', { class: 'view view-apps' });
  const card = h('section', { class: 'card', 'aria-labelledby': 'apps-heading' },
    h('h1', { id: 'apps-heading', tabindex: '-1' }, 'Connected apps'));
  const status = h('div', { role: 'status', class: 'alert alert-success', hidden: true });
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  card.append(status, body);
  view.appendChild(card);

  function render(apps) {
    while (body.firstChild) body.removeChild(body.firstChild);
    if (!apps.length) {
      body.appendChild(h('p', null, 'No apps are connected to your record.'));
      return;
    }
    body.appendChild(h('ul', { class: 'consent-list' }, apps.map((app) => {
      const btn = h('button', { type: 'button', class: 'btn btn-secondary btn-small' }, `Disconnect ${app.name}`);
      btn.addEventListener('click', async () => {
        setBusy(btn, true, 'Disconnecting…');
        try {
          await consentApi.revoke(app.client_id);
          status.textContent = `${app.name} was disconnected and can no longer see your record.`;
          status.hidden = false;
          load();
        } catch (err) {
          setBusy(btn, false);
          if (err.status === 401) onError(err);
        }
      });
      return h('li', null, h('strong', null, app.name), app.owner ? ` (${app.owner})` : '',
        h('ul', null, app.will_see.map((line) => h('li', null, line))), btn);
    })));
  }

  function load() {
    consentApi.apps().then((res) => render(res.apps)).catch((err) => {
      if (err.status === 401) onError(err);
      else render([]);
    });
  }
  load();
  return { node: view, title: 'Connected apps' };
}
