// Staff views: "My patients" (through a care team or a recent encounter, each saying which) with a way to open a record by its medical
// record number; a patient's chart (the health summary) that, without a care relationship, asks a
// clinician for a break-glass reason and then shows the record under a banner; and the privacy
// officer's break-glass review queue, where each access is closed with an outcome.

import { h, showError, setBusy } from '../dom.js';
import { request } from '../api.js';
import { fmtDate } from '../format.js';
import { summaryView } from './summary.js';

const staffApi = {
  patients: () => request('GET', '/staff/patients'),
  lookup: (mrn) => request('POST', '/staff/patient-lookup', { mrn }),
  summary: (id) => request('GET', `/patients/${encodeURIComponent(id)}/summary`),
  reasons: () => request('GET', '/break-glass/reasons'),
  breakGlass: (id, code, reason) => request('POST', `/patients/${encodeURIComponent(id)}/break-glass`, { reason_code: code, reason }),
  queue: (status) => request('GET', `/privacy/break-glass?status=${encodeURIComponent(status)}`),
  close: (id, outcome, note) => request('POST', `/privacy/break-glass/${encodeURIComponent(id)}/close`, { outcome, note }),
};

const chartHref = (id) => `#/patients/${encodeURIComponent(id)}`;
// why a patient is on the list (the "reason" policy/ decided on), in plain words
const RELATION = { 'care-team': 'Care team', encounter: 'Recent encounter' };

export function staffHomeView({ onError }) {
  const view = h('div', { class: 'view view-staff' });
  const list = h('div', null, h('p', { class: 'muted', role: 'status' }, 'Loading your patients…'));
  const error = h('div', { class: 'alert alert-error', role: 'alert', hidden: true });
  const mrn = h('input', { type: 'text', id: 'mrn', name: 'mrn', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'mrn-hint' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Open record');
  const form = h('form', { class: 'form', novalidate: true },
    error,
    h('div', { class: 'field' },
      h('label', { for: 'mrn' }, 'Medical record number'),
      h('p', { id: 'mrn-hint', class: 'hint' }, 'Opening a record of a patient you do not care for needs a reason and is reviewed by the privacy officer.'),
      mrn),
    submit);
  view.append(
    h('div', { class: 'page-head' }, h('h1', { id: 'staff-heading', tabindex: '-1' }, 'My patients')),
    h('section', { class: 'card', 'aria-labelledby': 'team-heading' }, h('h2', { id: 'team-heading' }, 'Patients I care for'), list),
    h('section', { class: 'card', 'aria-labelledby': 'open-heading' }, h('h2', { id: 'open-heading' }, 'Open another record'), form));

  staffApi.patients().then((res) => {
    list.replaceChildren(res.patients.length
      ? h('ul', { class: 'patient-list' }, res.patients.map((p) => h('li', null,
        h('a', { href: chartHref(p.patient_id) }, [p.given, p.family].filter(Boolean).join(' ') || 'Unnamed patient'),
        p.birth_date ? ` — born ${fmtDate(p.birth_date)}` : '',
        RELATION[p.reason] ? h('span', { class: 'relation' }, RELATION[p.reason]) : '')))
      : h('p', null, 'You have no patients through a care team or a recent encounter.'));
  }).catch((err) => {
    if (err.status === 401) onError(err);
    else list.replaceChildren(h('p', null, 'Your patients could not be loaded.'));
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!mrn.value.trim()) {
      showError(error, 'Enter a medical record number.', [mrn]);
      mrn.focus();
      return;
    }
    showError(error, '', [mrn]);
    setBusy(submit, true, 'Opening…');
    try {
      const res = await staffApi.lookup(mrn.value.trim());
      window.location.hash = chartHref(res.patient_id);
    } catch (err) {
      setBusy(submit, false);
      if (err.status === 401) return onError(err);
      showError(error, err.status === 404 ? 'No record has that medical record number.' : 'The record could not be opened.', [mrn]);
      mrn.focus();
    }
  });
  return { node: view, title: 'My patients' };
}

// The break-glass prompt: a reason from the list and in words, then the chart under a banner.
function breakGlassPrompt(main, patientId, onOpened, onError) {
  const error = h('div', { class: 'alert alert-error', role: 'alert', hidden: true });
  const select = h('select', { id: 'bg-reason', name: 'reason_code' }, h('option', { value: '' }, 'Choose a reason…'));
  const text = h('textarea', { id: 'bg-text', name: 'reason', rows: '3', 'aria-describedby': 'bg-text-hint' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Break the glass and open the record');
  const minutes = h('span', null, '60');
  const form = h('form', { class: 'form', novalidate: true },
    error,
    h('div', { class: 'field' }, h('label', { for: 'bg-reason' }, 'Reason'), select),
    h('div', { class: 'field' },
      h('label', { for: 'bg-text' }, 'Explain in your own words'),
      h('p', { id: 'bg-text-hint', class: 'hint' }, 'For example: the patient is in the emergency department and their care team cannot be reached.'),
      text),
    h('div', { class: 'actions' }, submit, h('a', { class: 'btn btn-secondary', href: '#/' }, 'Cancel')));
  const card = h('section', { class: 'card narrow', 'aria-labelledby': 'bg-heading' },
    h('h2', { id: 'bg-heading', tabindex: '-1' }, 'You have no care relationship with this patient'),
    h('p', null, 'You can open the record in an emergency or when you are covering for the care team. ',
      'Access lasts ', minutes, ' minutes, every view is recorded, and the privacy officer reviews each one.'),
    form);
  main.appendChild(card);
  staffApi.reasons().then((res) => {
    for (const r of res.reasons) select.appendChild(h('option', { value: r.code }, r.label));
    minutes.textContent = String(res.minutes);
  }).catch((err) => { if (err.status === 401) onError(err); });
  card.querySelector('h2').focus();

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const missing = [];
    if (!select.value) missing.push(select);
    if (text.value.trim().length < 5) missing.push(text);
    if (missing.length) {
      showError(error, 'Choose a reason and explain it in a few words.', missing);
      missing[0].focus();
      return;
    }
    showError(error, '', [select, text]);
    setBusy(submit, true, 'Opening…');
    try {
      await staffApi.breakGlass(patientId, select.value, text.value.trim());
      onOpened();
    } catch (err) {
      setBusy(submit, false);
      if (err.status === 401) return onError(err);
      if (err.status === 409) return onOpened();
      showError(error, err.status === 400 ? err.message : 'The record could not be opened.', []);
    }
  });
}

export function chartView({ api, patientId, onError, rerender }) {
  const view = summaryView({
    api, onError, patientId,
    load: () => staffApi.summary(patientId),
    onDenied: (err, main) => {
      if (err.code === 'break_glass_required') return breakGlassPrompt(main, patientId, rerender, onError);
      main.appendChild(h('div', { class: 'alert alert-error', role: 'alert' }, 'This record cannot be shown.'));
    },
  });
  view.node.prepend(h('p', { class: 'chart-links' }, h('a', { href: '#/' }, 'My patients'), ' · ',
    h('a', { href: `#/documents/${encodeURIComponent(patientId)}` }, 'Documents')));
  return view;
}

export function privacyQueueView({ onError }) {
  const view = h('div', { class: 'view view-privacy' });
  const status = h('div', { role: 'status', class: 'alert alert-success', hidden: true });
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading the review queue…'));
  view.append(
    h('div', { class: 'page-head' },
      h('h1', { id: 'privacy-heading', tabindex: '-1' }, 'Break-glass reviews'),
      h('p', { class: 'lede' }, 'Each time a clinician opened a record without a care relationship. Review each one and close it with an outcome.')),
    status, body);

  function item(x) {
    const outcome = h('select', { id: `outcome-${x.id}`, name: 'outcome' },
      h('option', { value: '' }, 'Choose an outcome…'),
      h('option', { value: 'appropriate' }, 'Appropriate'),
      h('option', { value: 'inappropriate' }, 'Inappropriate (start a sanction)'),
      h('option', { value: 'follow-up' }, 'Needs follow-up'));
    const note = h('textarea', { id: `note-${x.id}`, name: 'note', rows: '2' });
    const error = h('div', { class: 'alert alert-error', role: 'alert', hidden: true });
    const btn = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Close review');
    const form = h('form', { class: 'form', novalidate: true }, error,
      h('div', { class: 'field' }, h('label', { for: `outcome-${x.id}` }, 'Outcome'), outcome),
      h('div', { class: 'field' }, h('label', { for: `note-${x.id}` }, 'Note'), note), btn);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!outcome.value) { showError(error, 'Choose an outcome.', [outcome]); outcome.focus(); return; }
      setBusy(btn, true, 'Closing…');
      try {
        await staffApi.close(x.id, outcome.value, note.value.trim());
        status.textContent = 'The review was closed.';
        status.hidden = false;
        load();
      } catch (err) {
        setBusy(btn, false);
        if (err.status === 401) return onError(err);
        showError(error, 'The review could not be closed.', []);
      }
    });
    return h('li', { class: 'card review-item' },
      h('h2', null, `${x.staff.username || 'A former user'} (${x.staff.role}) — ${new Date(x.started_at).toLocaleString('en-US')}`),
      h('dl', { class: 'facts' },
        h('div', { class: 'fact' }, h('dt', null, 'Record'), h('dd', null, h('a', { href: chartHref(x.patient_id) }, 'Open the record'))),
        h('div', { class: 'fact' }, h('dt', null, 'Reason'), h('dd', null, x.reason_code)),
        h('div', { class: 'fact' }, h('dt', null, 'In their words'), h('dd', null, x.reason || '—'))),
      form);
  }

  function load() {
    staffApi.queue('open').then((res) => {
      body.replaceChildren(res.items.length ? h('ul', { class: 'review-list' }, res.items.map(item))
        : h('p', null, 'No break-glass access is waiting for review.'));
    }).catch((err) => {
      if (err.status === 401) onError(err);
      else body.replaceChildren(h('p', null, 'The review queue could not be loaded.'));
    });
  }
  load();
  return { node: view, title: 'Break-glass reviews' };
}
