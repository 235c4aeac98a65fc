// Health summary: demographics, problems, medications, allergies, immunizations, recent labs (with
// flags and reference ranges), lab trend charts (each with its data table), vitals and encounters.

import { h } from '../dom.js';
import { fmtDate, fmtValue, fmtRange, labFlag, titleCase, ageFrom, plural } from '../format.js';
import { chartable, trendChart, trendTable } from '../chart.js';

const INITIAL_ROWS = 10;

function missing() {
  return h('span', { class: 'missing' }, h('span', { 'aria-hidden': 'true' }, '—'), h('span', { class: 'sr-only' }, 'not recorded'));
}

function cell(v) {
  return v === null || v === undefined || v === '' ? missing() : String(v);
}

function statusBadge(status) {
  if (!status) return missing();
  const key = String(status).toLowerCase().replace(/[^a-z]+/g, '-');
  return h('span', { class: `status status-${key}` }, titleCase(status));
}

function flagBadge(f) {
  return f ? h('span', { class: `flag flag-${f.key}` }, f.label) : missing();
}

// A table with a caption and column headers; long lists show the first rows and a toggle.
function dataTable({ id, caption, columns, rows, empty, limit = INITIAL_ROWS }) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  const body = h('tbody', { id: `${id}-rows` });
  rows.forEach((cells, i) => {
    const tr = h('tr', { class: i >= limit ? 'is-extra' : null, hidden: i >= limit });
    cells.forEach((c, j) => tr.appendChild(j === 0 ? h('th', { scope: 'row' }, c) : h('td', { class: columns[j].num ? 'num' : null }, c)));
    body.appendChild(tr);
  });
  const table = h('table', { class: 'data-table', id },
    h('caption', { class: 'sr-only', id: `${id}-caption` }, caption),
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
    body);
  // On a narrow screen the table scrolls sideways inside this region, which keyboard users can focus.
  const wrap = h('div', { class: 'table-block' },
    h('div', { class: 'table-scroll', role: 'region', tabindex: '0', 'aria-labelledby': `${id}-caption` }, table));
  if (rows.length > limit) {
    const more = rows.length - limit;
    const btn = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'aria-controls': `${id}-rows`, 'aria-expanded': 'false' }, `Show all ${rows.length}`);
    btn.addEventListener('click', () => {
      const expand = btn.getAttribute('aria-expanded') !== 'true';
      for (const tr of body.querySelectorAll('tr.is-extra')) tr.hidden = !expand;
      btn.setAttribute('aria-expanded', String(expand));
      btn.textContent = expand ? `Show the first ${limit} only` : `Show all ${rows.length}`;
      note.hidden = expand;
    });
    const note = h('span', { class: 'muted' }, `${plural(more, 'more entry is', 'more entries are')} not shown.`);
    wrap.appendChild(h('p', { class: 'table-more' }, note, btn));
  }
  return wrap;
}

function section(id, title, intro, ...content) {
  return h('section', { class: 'card summary-section', id, 'aria-labelledby': `${id}-heading` },
    h('h2', { id: `${id}-heading` }, title),
    intro ? h('p', { class: 'section-intro' }, intro) : null,
    ...content);
}

function byActiveFirst(list, key) {
  const rank = (x) => (String(x[key] || '').toLowerCase() === 'active' ? 0 : 1);
  return list.slice().sort((a, b) => rank(a) - rank(b));
}

function patientCard(p, me) {
  const age = ageFrom(p.birth_date);
  const item = (label, value) => h('div', { class: 'fact' }, h('dt', null, label), h('dd', null, value));
  return h('section', { class: 'card patient-card', 'aria-labelledby': 'patient-heading' },
    h('h2', { id: 'patient-heading', class: 'patient-name' }, p.name || 'Your record'),
    h('dl', { class: 'facts' },
      item('Date of birth', p.birth_date ? `${fmtDate(p.birth_date)}${age !== null ? ` (age ${age})` : ''}` : missing()),
      item('Gender', p.gender ? titleCase(p.gender) : missing()),
      item('Medical record number', cell(p.mrn)),
      item('Phone', cell(p.phone)),
      item('Address', cell(p.address))),
    me && me.role && me.role !== 'patient' ? h('p', { class: 'muted' }, `Signed in as ${me.role}.`) : null);
}

// How the record was reached, when it is not the person's own: break-glass (a banner that cannot be
// missed), a care relationship or a proxy grant.
function accessBanner(access) {
  if (!access || access.via === 'own-record') return null;
  if (access.via === 'break-glass') {
    const until = access.expires_at ? new Date(access.expires_at).toLocaleTimeString('en-US', { hour: 'numeric', minute: '2-digit' }) : null;
    return h('div', { class: 'alert alert-error banner-break-glass', role: 'alert' },
      h('strong', null, 'Break-glass access. '),
      `You opened this record without a care relationship${until ? `; your access ends at ${until}` : ''}. Every view is recorded and reviewed by the privacy officer.`);
  }
  if (access.via === 'proxy') return h('div', { class: 'alert alert-info', role: 'status' }, 'You are viewing this record as a person the patient (or the practice) gave access to. Some information may not be shown.');
  return h('div', { class: 'alert alert-info', role: 'status' }, 'You are viewing this record through your care relationship with the patient. Every view is recorded.');
}

// patientId: another person's record (staff, proxies); load: a custom loader (default: own record)
export function summaryView({ api, notice, onError, patientId = null, load = null, onDenied = null }) {
  const main = h('div', { class: 'view view-summary' });
  const own = !patientId;
  const status = h('p', { class: 'muted', role: 'status' }, own ? 'Loading your health summary…' : 'Loading the health summary…');
  main.append(...[
    h('div', { class: 'page-head' },
      h('h1', { id: 'summary-heading', tabindex: '-1' }, own ? 'Your health summary' : 'Health summary'),
      h('p', { class: 'lede' }, own ? 'Information from your medical record. If something looks wrong or you have questions, contact your care team.' : 'Information from the patient\'s medical record.')),
    notice ? h('div', { class: `alert alert-${notice.kind || 'info'}`, role: 'status' }, notice.text) : null,
    status].filter(Boolean));

  (async () => {
    let data;
    let me = null;
    try {
      [data, me] = await Promise.all([load ? load() : api.summary(), api.me().catch(() => null)]);
    } catch (err) {
      if (err.status === 401) return onError(err);
      if (onDenied && (err.status === 403 || err.status === 404)) { status.remove(); return onDenied(err, main); }
      status.remove();
      main.appendChild(h('div', { class: 'alert alert-error', role: 'alert' }, 'Your health summary could not be loaded. Please reload the page or try again later.'));
      return;
    }
    status.remove();
    render(main, data || {}, me);
  })();

  return { node: main, title: 'Health summary', focus: null };
}

function render(main, d, me) {
  const problems = byActiveFirst(d.problems || [], 'clinical_status');
  const meds = byActiveFirst(d.medications || [], 'status');
  const allergies = d.allergies || [];
  const imms = d.immunizations || [];
  const labs = d.labs || [];
  const vitals = d.vitals || [];
  const trends = (d.lab_trends || []).filter(chartable);
  const encounters = d.encounters || [];

  const sections = [
    ['problems', 'Health problems'], ['medications', 'Medications'], ['allergies', 'Allergies'],
    ['immunizations', 'Immunizations'], ['labs', 'Recent lab results'], ['trends', 'Lab trends'],
    ['vitals', 'Vital signs'], ['encounters', 'Visits'],
  ];

  const toc = h('nav', { class: 'toc', 'aria-label': 'Sections of your health summary' },
    h('ul', null, sections.map(([id, label]) => h('li', null, h('a', { href: `#${id}` }, label)))));

  const grid = h('div', { class: 'summary-grid' });
  grid.append(
    section('problems', 'Health problems', 'Active problems are listed first.', dataTable({
      id: 'problems-table', caption: 'Health problems, active first', empty: 'No health problems are on record.',
      columns: [{ label: 'Problem' }, { label: 'Status' }, { label: 'Since' }],
      rows: problems.map((p) => [cell(p.text), statusBadge(p.clinical_status), p.onset ? fmtDate(p.onset) : missing()]),
    })),
    section('medications', 'Medications', 'Active medications are listed first. Do not stop or change a medication without talking to your care team.', dataTable({
      id: 'medications-table', caption: 'Medications, active first', empty: 'No medications are on record.',
      columns: [{ label: 'Medication' }, { label: 'How to take it' }, { label: 'Status' }, { label: 'Prescribed' }],
      rows: meds.map((m) => [cell(m.text), cell(m.dosage), statusBadge(m.status), m.authored_on ? fmtDate(m.authored_on) : missing()]),
    })),
    section('allergies', 'Allergies', null, dataTable({
      id: 'allergies-table', caption: 'Allergies and intolerances', empty: 'No known allergies are on record.',
      columns: [{ label: 'Allergy' }, { label: 'Type' }, { label: 'Criticality' }, { label: 'Status' }],
      rows: allergies.map((a) => [cell(a.text), a.category ? titleCase(a.category) : missing(), a.criticality ? titleCase(a.criticality) : missing(), statusBadge(a.clinical_status)]),
    })),
    section('immunizations', 'Immunizations', null, dataTable({
      id: 'immunizations-table', caption: 'Immunizations, newest first', empty: 'No immunizations are on record.',
      columns: [{ label: 'Vaccine' }, { label: 'Date' }, { label: 'Status' }],
      rows: imms.map((i) => [cell(i.text), i.date ? fmtDate(i.date) : missing(), statusBadge(i.status)]),
    })));

  const labRows = labs.map((l) => {
    const f = labFlag(l.flag, l.value, l.ref_low, l.ref_high);
    return [cell(l.text || l.code), fmtValue(l.value, l.unit) || missing(), fmtRange(l.ref_low, l.ref_high, l.unit) || missing(), flagBadge(f), l.date ? fmtDate(l.date) : missing()];
  });
  const outOfRange = labs.filter((l) => { const f = labFlag(l.flag, l.value, l.ref_low, l.ref_high); return f && f.key !== 'normal'; }).length;

  const trendCards = trends.map((t, i) => h('figure', { class: 'trend', 'aria-labelledby': `trend-${i}-heading` },
    h('h3', { id: `trend-${i}-heading` }, t.text || t.code),
    h('p', { class: 'trend-range' }, fmtRange(t.ref_low, t.ref_high, t.unit) ? `Reference range ${fmtRange(t.ref_low, t.ref_high, t.unit)}` : 'No reference range'),
    trendChart(t),
    h('details', { class: 'trend-data' },
      h('summary', null, 'Show the values as a table'),
      trendTable(t))));

  const wide = h('div', { class: 'summary-wide' },
    section('labs', 'Recent lab results',
      labs.length ? `The most recent result of each test. ${outOfRange ? `${plural(outOfRange, 'result is', 'results are')} outside the reference range.` : 'All results are within their reference ranges.'} A result outside the range is not always a problem; your care team can explain what it means for you.` : null,
      dataTable({
        id: 'labs-table', caption: 'Most recent lab results, with reference ranges and flags', empty: 'No lab results are on record.',
        columns: [{ label: 'Test' }, { label: 'Result', num: true }, { label: 'Reference range' }, { label: 'Flag' }, { label: 'Date' }],
        rows: labRows, limit: Infinity,
      })),
    section('trends', 'Lab trends', trends.length ? 'Each chart shows a test over the years. The shaded band is the reference range; points outside it are marked.' : null,
      trends.length ? h('div', { class: 'trend-grid' }, trendCards) : h('p', { class: 'empty' }, 'There are not yet enough results to show trends.')),
    section('vitals', 'Vital signs', 'The most recent measurement of each.', dataTable({
      id: 'vitals-table', caption: 'Most recent vital signs', empty: 'No vital signs are on record.',
      columns: [{ label: 'Measurement' }, { label: 'Value', num: true }, { label: 'Date' }],
      rows: vitals.map((v) => [cell(v.text || v.code), fmtValue(v.value, v.unit) || missing(), v.date ? fmtDate(v.date) : missing()]),
      limit: Infinity,
    })),
    section('encounters', 'Visits', null, dataTable({
      id: 'encounters-table', caption: 'Visits, newest first', empty: 'No visits are on record.',
      columns: [{ label: 'Date' }, { label: 'Type of visit' }, { label: 'Reason' }, { label: 'Provider' }],
      rows: encounters.map((e) => [e.date ? fmtDate(e.date) : missing(), cell(e.type || titleCase(e.class)), cell(e.reason), cell(e.provider)]),
    })));

  const banner = accessBanner(d.access);
  if (banner) main.append(banner);
  main.append(patientCard(d.patient || {}, me), toc, grid, wide);
}
