// A proxy's home: the people whose records they may act for (a parent for a child, a caregiver for
// an adult), each with what the grant allows: the record, and conversations with the care team
// when the grant includes messaging. The messages view then acts for the person chosen here.

import { h } from '../dom.js';
import { request } from '../api.js';
import { fmtDate } from '../format.js';

const SCOPE = {
  full: 'Full access',
  'no-messaging': 'The record, without messaging',
  'billing-only': 'Billing only',
};
const ACTING_KEY = 'pp.actingFor';
const ACTING_NAME_KEY = 'pp.actingForName';

// the record the messages view acts for (a proxy's choice on this page), or null
export function actingFor() {
  try { return window.sessionStorage.getItem(ACTING_KEY); } catch { return null; }
}
// the name shown for it ("the person you act for" when unknown)
export function actingForName() {
  try { return window.sessionStorage.getItem(ACTING_NAME_KEY) || 'the person you act for'; } catch { return 'the person you act for'; }
}
// back to one's own messages (a patient who is also someone's proxy)
export function clearActingFor() {
  try { window.sessionStorage.removeItem(ACTING_KEY); window.sessionStorage.removeItem(ACTING_NAME_KEY); } catch { /* nothing kept */ }
}

function setActingFor(id, name) {
  try {
    window.sessionStorage.setItem(ACTING_KEY, id);
    if (name) window.sessionStorage.setItem(ACTING_NAME_KEY, name);
    else window.sessionStorage.removeItem(ACTING_NAME_KEY);
  } catch { /* private mode: messages ask */ }
}

export function proxyHomeView({ onError }) {
  const list = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const view = h('div', { class: 'view view-proxy-home' },
    h('div', { class: 'page-head' }, h('h1', { id: 'proxy-heading', tabindex: '-1' }, 'People you act for')),
    h('p', null, 'You act in your own name. Everything you view or send is recorded as done by you on their behalf.'),
    h('section', { class: 'card', 'aria-labelledby': 'proxy-list-heading' },
      h('h2', { id: 'proxy-list-heading' }, 'Records shared with you'), list));

  async function nameOf(g) {
    if (g.scope === 'billing-only') return null;
    try {
      const s = await request('GET', `/patients/${encodeURIComponent(g.patient_id)}/summary`);
      const n = s.patient && s.patient.name;
      return typeof n === 'string' ? n : null;
    } catch (err) {
      if (err.status === 401) onError(err);
      return null;
    }
  }

  request('GET', '/me/proxies').then(async (res) => {
    const grants = (res.acting_for || []).filter((g) => g.patient_id);
    if (!grants.length) {
      list.replaceChildren(h('p', null, 'No one has shared their record with you, or the access has ended.'));
      return;
    }
    const names = await Promise.all(grants.map(nameOf));
    list.replaceChildren(h('ul', { class: 'proxy-list' }, grants.map((g, i) => {
      const who = names[i] || `The person who named you their ${g.relationship}`;
      const actions = [];
      if (g.scope !== 'billing-only')
        actions.push(h('a', { class: 'btn btn-secondary', href: `#/patients/${g.patient_id}` }, `View the record of ${who}`));
      if (g.scope === 'full')
        actions.push(h('a', {
          class: 'btn btn-primary', href: '#/messages',
          onclick: () => setActingFor(g.patient_id, names[i]),
        }, `Messages for ${who}`));
      return h('li', { class: 'proxy-item' },
        h('h3', null, who),
        h('p', null, `You are their ${g.relationship}. ${SCOPE[g.scope] || g.scope}${g.expires ? `, until ${fmtDate(g.expires)}` : ''}.`),
        h('div', { class: 'actions' }, actions));
    })));
  }).catch((err) => {
    if (err.status === 401) onError(err);
    else list.replaceChildren(h('p', null, 'The list could not be loaded.'));
  });
  return { node: view, title: 'People you act for' };
}
