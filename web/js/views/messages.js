// Messages: the inbox (a patient's own conversations, or for staff their pools' conversations,
// with unread counts and the structured request of each), one conversation (read receipts, reply,
// a private draft; for staff: reassign to another pool), and compose for patients (kinds: question,
// medication refill, appointment request, question about a lab result) with the emergency
// disclaimer and the chosen pool's reply time shown before sending.
// Routes: #/messages, #/messages/new, #/messages/t/<id>.

import { request, upload } from '../api.js';
import { h, clear, nextId, showError, setBusy } from '../dom.js';
import { fmtDate, fmtUnit } from '../format.js';
import { actingFor, actingForName, clearActingFor } from './proxyhome.js';

const KINDS = [
  { value: 'text', label: 'A question or message' },
  { value: 'refill', label: 'Medication refill request' },
  { value: 'appointment', label: 'Appointment request' },
  { value: 'result_question', label: 'Question about a lab result' },
];
const kindLabel = (k) => (KINDS.find((x) => x.value === k) || KINDS[0]).label;

// a proxy names the record they act for (chosen on "People you act for"); so does a patient who is
// also someone's proxy, until they go back to their own messages; thread calls need not
let proxy = false;
const forWhom = () => (proxy && actingFor() ? `?patient=${encodeURIComponent(actingFor())}` : '');
const msgApi = {
  me: () => request('GET', '/me').then((me) => {
    proxy = me.role === 'proxy' || (me.role === 'patient' && Boolean(actingFor()));
    return me;
  }),
  pools: () => request('GET', '/messages/pools'),
  choices: () => request('GET', `/messages/choices${forWhom()}`),
  inbox: () => request('GET', `/messages/threads${forWhom()}`),
  thread: (id) => request('GET', `/messages/threads/${encodeURIComponent(id)}`),
  create: (body) => request('POST', `/messages/threads${forWhom()}`, body),
  reply: (id, body) => request('POST', `/messages/threads/${encodeURIComponent(id)}/messages`, body),
  read: (id) => request('POST', `/messages/threads/${encodeURIComponent(id)}/read`),
  saveDraft: (id, body) => request('PUT', `/messages/threads/${encodeURIComponent(id)}/draft`, { body }),
  dropDraft: (id) => request('DELETE', `/messages/threads/${encodeURIComponent(id)}/draft`),
  reassign: (id, poolId, reason) => request('POST', `/messages/threads/${encodeURIComponent(id)}/reassign`, { pool_id: poolId, reason }),
  unread: () => request('GET', `/messages/unread${forWhom()}`),
};

// The unread badge in the site navigation ("Messages (3)"); quiet on errors.
export async function refreshUnread(badge) {
  if (!badge) return;
  try {
    const { unread } = await msgApi.unread();
    badge.textContent = unread > 0 ? `${unread} unread` : '';
    badge.hidden = !(unread > 0);
  } catch { badge.hidden = true; }
}

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return `${fmtDate(iso.slice(0, 10))} ${d.toLocaleTimeString('en-US', { hour: 'numeric', minute: '2-digit' })}`;
}

function alertBox() {
  return h('p', { class: 'alert alert-error', role: 'alert', id: nextId('msg-err'), hidden: true });
}

function failed(box, err, onError) {
  if (err && (err.status === 401 || err.status === 409)) return onError(err);
  showError(box, err && err.message ? err.message : 'Something went wrong. Please try again.');
  return undefined;
}

function go(hash) { window.location.hash = hash; }

// ---------------- inbox ----------------
// Whose messages these are, when acting for someone; a patient can go back to their own.
function actingNotice(me) {
  const back = me.role === 'patient' ? h('button', {
    type: 'button', class: 'btn btn-secondary',
    onclick: () => { clearActingFor(); window.dispatchEvent(new HashChangeEvent('hashchange')); },
  }, 'Back to your own messages') : null;
  return h('div', { class: 'alert alert-info acting-notice', role: 'note' },
    h('p', null, `Messages for ${actingForName()}. You act in your own name: what you send is recorded as sent by you on their behalf.`),
    back);
}

function inboxView({ me, onError }) {
  const staff = me.role !== 'patient' && me.role !== 'proxy';
  const err = alertBox();
  const list = h('ul', { class: 'msg-list', 'aria-labelledby': 'msg-inbox-title' });
  const status = h('p', { class: 'muted', role: 'status' }, 'Loading your messages…');
  const node = h('div', { class: 'view msg-view' },
    h('h1', { tabindex: '-1', id: 'msg-inbox-title' }, staff ? 'Care-team inbox' : 'Messages'),
    !staff && forWhom() ? actingNotice(me) : null,
    staff ? h('p', { class: 'muted' }, 'Conversations with patients in the pools you belong to.') :
      h('p', null, h('a', { class: 'btn btn-primary', href: '#/messages/new' }, 'New message')),
    err, status, list);
  msgApi.inbox().then((res) => {
    status.textContent = res.threads.length ? `${res.unread} unread ${res.unread === 1 ? 'message' : 'messages'}.` : 'No messages yet.';
    for (const t of res.threads) {
      const unread = t.unread > 0;
      list.appendChild(h('li', { class: ['msg-item', unread && 'is-unread'] },
        h('a', { href: `#/messages/t/${t.id}`, class: 'msg-link' },
          h('span', { class: 'msg-subject' }, t.subject),
          unread ? h('span', { class: 'badge' }, `${t.unread} unread`) : null),
        h('p', { class: 'msg-meta' },
          staff && t.patient_name ? `${t.patient_name} · ` : '',
          `${t.pool.name} · ${kindLabel(t.kind)} · ${when(t.updated)}`),
        t.item && t.item.text ? h('p', { class: 'msg-item-text' }, t.item.text) : null));
    }
  }).catch((e) => { status.textContent = ''; failed(err, e, onError); });
  return { node, title: staff ? 'Care-team inbox' : 'Messages' };
}

// ---------------- attachments ----------------
const ACCEPT = '.pdf,.png,.jpg,.jpeg,.txt,application/pdf,image/png,image/jpeg,text/plain';
function fileKind(type) {
  return { 'application/pdf': 'PDF', 'image/png': 'PNG image', 'image/jpeg': 'JPEG image', 'text/plain': 'text' }[type] || 'file';
}
function fileSize(n) {
  return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : n >= 1024 ? `${Math.round(n / 1024)} KB` : `${n} bytes`;
}
function attachField() {
  const id = nextId('attach');
  const input = h('input', { id, type: 'file', multiple: true, accept: ACCEPT, 'aria-describedby': `${id}-hint` });
  const field = h('div', { class: 'field msg-attachments' },
    h('label', { for: id }, 'Attach files (optional)'),
    h('p', { id: `${id}-hint`, class: 'hint' }, 'PDF, PNG, JPEG or plain text, up to 5 files. Each file is checked for viruses.'),
    input);
  return { field, input };
}
// uploads the chosen files; their ids go with the message
async function uploadAll(input, path) {
  const files = Array.from(input.files || []);
  if (files.length > 5) throw Object.assign(new Error('Attach at most 5 files.'), { status: 400, code: 'too_many' });
  const ids = [];
  for (const f of files) ids.push((await upload(path, f)).file_id);
  return ids;
}

// ---------------- one conversation ----------------
function messageNode(m, staffView) {
  const proxyAuthor = m.author && m.author.role === 'proxy' ? `${m.author.name} for ${m.author.for || 'the patient'}` : null;
  const who = m.mine ? 'You' : m.side === 'staff' ? 'Care team' : proxyAuthor || 'Patient';
  const receipt = m.mine ? (m.side === 'patient' ? m.read.staff : m.read.patient) : null;
  return h('li', { class: ['msg-bubble', m.mine && 'is-mine'] },
    h('p', { class: 'msg-meta' }, h('strong', null, who), ` · ${when(m.sent)}`),
    m.item ? h('p', { class: 'msg-structured' }, m.item) : null,
    m.body ? h('p', { class: 'msg-body' }, m.body) : null,
    m.attachments && m.attachments.length ? h('ul', { class: 'msg-attachment-list', 'aria-label': 'Attachments' },
      m.attachments.map((a) => h('li', null, h('a', { href: `/api/v1/files/${encodeURIComponent(a.id)}`, download: '' }, a.name || 'Attachment'),
        ` (${fileKind(a.type)}, ${fileSize(a.size)})`))) : null,
    m.mine ? h('p', { class: 'msg-receipt muted' }, receipt ? `Read ${when(receipt)}` : 'Not read yet') : null,
    staffView && !m.mine && m.side === 'patient' && !m.read.staff ? h('p', { class: 'muted' }, 'New') : null);
}

function threadView({ id, me, onError }) {
  const staff = me.role !== 'patient' && me.role !== 'proxy';
  const err = alertBox();
  const body = h('div', null, h('p', { class: 'muted', role: 'status' }, 'Loading the conversation…'));
  const node = h('div', { class: 'view msg-view' },
    h('p', null, h('a', { href: '#/messages' }, 'Back to messages')),
    h('h1', { tabindex: '-1', id: 'msg-thread-title' }, 'Conversation'), err, body);
  const title = node.querySelector('h1');

  msgApi.thread(id).then(async (t) => {
    title.textContent = t.subject;
    clear(body);
    body.appendChild(h('p', { class: 'msg-meta' }, `With ${t.pool.name}. ${t.turnaround || ''}`));
    body.appendChild(h('ol', { class: 'msg-thread', 'aria-label': 'Messages in this conversation' },
      t.messages.map((m) => messageNode(m, staff))));
    // reading the conversation sets the read receipts for the caller's side
    const unread = t.messages.some((m) => !m.mine && !(staff ? m.read.staff : m.read.patient));
    if (unread) msgApi.read(id).then(() => refreshUnread(document.getElementById('nav-unread'))).catch(() => {});

    const replyId = nextId('reply');
    const text = h('textarea', { id: replyId, rows: '5', maxlength: '20000', class: 'input' });
    if (t.draft) text.value = t.draft.body;
    const saved = h('p', { class: 'muted', role: 'status' }, t.draft ? `Draft saved ${when(t.draft.saved)}` : '');
    const send = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Send reply');
    const replyAttach = attachField();
    const saveBtn = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Save draft');
    const dropBtn = h('button', { type: 'button', class: 'btn btn-link' }, 'Discard draft');
    saveBtn.addEventListener('click', async () => {
      try { await msgApi.saveDraft(id, text.value); saved.textContent = 'Draft saved. Only you can see it.'; } catch (e) { failed(err, e, onError); }
    });
    dropBtn.addEventListener('click', async () => {
      try { await msgApi.dropDraft(id); text.value = ''; saved.textContent = 'Draft discarded.'; } catch (e) {
        if (e.status === 404) { text.value = ''; saved.textContent = 'No draft to discard.'; } else failed(err, e, onError);
      }
    });
    const form = h('form', { class: 'card msg-reply', novalidate: true, 'aria-labelledby': `${replyId}-h` },
      h('h2', { id: `${replyId}-h` }, 'Reply'),
      staff ? null : h('p', { class: 'alert alert-warning' }, (await disclaimer())),
      h('div', { class: 'field' }, h('label', { for: replyId }, 'Your reply'), text),
      replyAttach.field,
      h('div', { class: 'actions' }, send, saveBtn, dropBtn), saved);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      showError(err, '');
      if (!text.value.trim()) { showError(err, 'Write a reply first.', [text]); text.focus(); return; }
      setBusy(send, true, 'Sending…');
      try {
        const attachments = await uploadAll(replyAttach.input, `/messages/threads/${encodeURIComponent(id)}/attachments`);
        await msgApi.reply(id, { body: text.value, attachments });
        go(`#/messages/t/${id}?${Date.now()}`);
      } catch (e) { failed(err, e, onError); } finally { setBusy(send, false); }
    });
    body.appendChild(form);
    if (staff) body.appendChild(await reassignForm(id, t.pool.id, err, onError));
  }).catch((e) => { clear(body); failed(err, e, onError); });
  return { node, title: 'Conversation' };
}

let disclaimerText = null;
async function disclaimer() {
  if (!disclaimerText) disclaimerText = (await msgApi.pools()).disclaimer;
  return disclaimerText;
}

async function reassignForm(id, currentPool, err, onError) {
  const { pools } = await msgApi.pools();
  const selId = nextId('pool'), reasonId = nextId('reason');
  const sel = h('select', { id: selId, class: 'input' }, pools.filter((p) => p.id !== currentPool).map((p) => h('option', { value: String(p.id) }, p.name)));
  const reason = h('input', { id: reasonId, type: 'text', class: 'input', maxlength: '500' });
  const btn = h('button', { type: 'submit', class: 'btn btn-secondary' }, 'Reassign');
  const form = h('form', { class: 'card', novalidate: true, 'aria-labelledby': `${selId}-h` },
    h('h2', { id: `${selId}-h` }, 'Reassign to another pool'),
    h('div', { class: 'field' }, h('label', { for: selId }, 'Pool'), sel),
    h('div', { class: 'field' }, h('label', { for: reasonId }, 'Reason (kept with the record)'), reason),
    btn);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!reason.value.trim()) { showError(err, 'Give a reason for the reassignment.', [reason]); reason.focus(); return; }
    setBusy(btn, true, 'Reassigning…');
    try { await msgApi.reassign(id, Number(sel.value), reason.value); go('#/messages'); } catch (e) { failed(err, e, onError); } finally { setBusy(btn, false); }
  });
  return form;
}

// ---------------- compose (patients) ----------------
function composeView({ me, onError }) {
  const err = alertBox();
  const body = h('div', null, h('p', { class: 'muted', role: 'status' }, 'Loading…'));
  const node = h('div', { class: 'view msg-view' },
    h('p', null, h('a', { href: '#/messages' }, 'Back to messages')),
    h('h1', { tabindex: '-1' }, 'New message'), err, body);

  Promise.all([msgApi.pools(), msgApi.choices()]).then(([p, choices]) => {
    clear(body);
    const ids = { pool: nextId('pool'), kind: nextId('kind'), subject: nextId('subject'), body: nextId('body'),
      med: nextId('med'), reason: nextId('reason'), result: nextId('result'), turn: nextId('turn') };
    // shown before anything can be sent
    body.appendChild(h('p', { class: 'alert alert-warning', id: 'msg-disclaimer' }, p.disclaimer));
    const pool = h('select', { id: ids.pool, class: 'input', 'aria-describedby': ids.turn },
      p.pools.map((x) => h('option', { value: String(x.id) }, x.name)));
    const turnaround = h('p', { id: ids.turn, class: 'muted msg-turnaround' });
    const showTurn = () => { const x = p.pools.find((y) => String(y.id) === pool.value); turnaround.textContent = x && x.turnaround ? `Expected reply: ${x.turnaround}` : ''; };
    pool.addEventListener('change', showTurn);
    showTurn();
    const kind = h('select', { id: ids.kind, class: 'input' }, KINDS.map((k) => h('option', { value: k.value }, k.label)));
    const subject = h('input', { id: ids.subject, type: 'text', class: 'input', maxlength: '200' });
    const text = h('textarea', { id: ids.body, rows: '6', class: 'input', maxlength: '20000' });
    const med = h('select', { id: ids.med, class: 'input' }, choices.medications.map((m) => h('option', { value: m.id }, m.text)));
    const reason = h('input', { id: ids.reason, type: 'text', class: 'input', maxlength: '500' });
    const times = [1, 2, 3].map((n) => {
      const tid = nextId('time');
      return { input: h('input', { id: tid, type: 'datetime-local', class: 'input' }), label: h('label', { for: tid }, `Preferred time ${n}${n > 1 ? ' (optional)' : ''}`) };
    });
    const result = h('select', { id: ids.result, class: 'input' }, choices.results.map((r) => h('option', { value: r.id }, `${r.text}${r.value ? `: ${r.value}${r.unit ? ` ${fmtUnit(r.unit)}` : ''}` : ''}${r.date ? ` (${fmtDate(r.date)})` : ''}`)));
    const refillBox = h('div', { class: 'field', hidden: true }, h('label', { for: ids.med }, 'Medication to refill'),
      choices.medications.length ? med : h('p', { class: 'muted' }, 'You have no active medications to refill.'));
    const apptBox = h('fieldset', { class: 'field', hidden: true }, h('legend', null, 'Appointment'),
      h('div', { class: 'field' }, h('label', { for: ids.reason }, 'Reason for the visit'), reason),
      times.map((t) => h('div', { class: 'field' }, t.label, t.input)));
    const resultBox = h('div', { class: 'field', hidden: true }, h('label', { for: ids.result }, 'Lab result'),
      choices.results.length ? result : h('p', { class: 'muted' }, 'You have no lab results.'));
    const showKind = () => { refillBox.hidden = kind.value !== 'refill'; apptBox.hidden = kind.value !== 'appointment'; resultBox.hidden = kind.value !== 'result_question'; };
    kind.addEventListener('change', showKind);
    const send = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Send message');
    const composeAttach = attachField();
    const form = h('form', { class: 'card', novalidate: true, 'aria-label': 'New message' },
      h('div', { class: 'field' }, h('label', { for: ids.pool }, 'To'), pool, turnaround),
      h('div', { class: 'field' }, h('label', { for: ids.kind }, 'What is this about?'), kind),
      refillBox, apptBox, resultBox,
      h('div', { class: 'field' }, h('label', { for: ids.subject }, 'Subject'), subject),
      h('div', { class: 'field' }, h('label', { for: ids.body }, 'Message'), text),
      composeAttach.field,
      h('p', { class: 'muted' }, 'Your message is stored encrypted. The disclaimer above applies: messages are not for emergencies.'),
      send);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      showError(err, '');
      const k = kind.value;
      const req = { pool_id: Number(pool.value), kind: k, subject: subject.value.trim(), body: text.value, fields: {} };
      if (k === 'text' && (!req.subject || !req.body.trim())) { showError(err, 'Write a subject and a message.', [subject, text]); subject.focus(); return; }
      if (k === 'refill') { if (!choices.medications.length) { showError(err, 'There is no medication to refill.'); return; } req.fields.medication_request_id = med.value; }
      if (k === 'result_question') { if (!choices.results.length) { showError(err, 'There is no lab result to ask about.'); return; } req.fields.observation_id = result.value; }
      if (k === 'appointment') {
        const picked = times.map((t) => t.input.value).filter(Boolean).map((v) => v.slice(0, 16));
        if (!reason.value.trim() || !picked.length) { showError(err, 'Give a reason and at least one preferred time.', [reason, times[0].input]); reason.focus(); return; }
        req.fields = { reason: reason.value.trim(), preferred_times: picked };
      }
      setBusy(send, true, 'Sending…');
      try {
        const recordId = me.role === 'proxy' ? actingFor() : me.patient_id;
        req.attachments = await uploadAll(composeAttach.input, `/patients/${encodeURIComponent(recordId)}/files`);
        const t = await msgApi.create(req);
        go(`#/messages/t/${t.id}`);
      } catch (e) { failed(err, e, onError); } finally { setBusy(send, false); }
    });
    body.appendChild(form);
  }).catch((e) => { clear(body); failed(err, e, onError); });
  return { node, title: 'New message' };
}

// A proxy who has not chosen whose messages to see
function chooseFirstView() {
  const node = h('div', { class: 'view msg-view' },
    h('h1', { tabindex: '-1' }, 'Messages'),
    h('p', null, 'Choose whose messages to see on ', h('a', { href: '#/' }, 'People you act for'), '.'));
  return { node, title: 'Messages' };
}

// The view for the current #/messages… hash.
export function messagesView({ onError }) {
  const holder = h('div', null, h('p', { class: 'muted', role: 'status' }, 'Loading…'));
  const view = { node: holder, title: 'Messages' };
  const hash = window.location.hash;
  msgApi.me().then((me) => {
    let v;
    const m = /^#\/messages\/t\/([0-9a-f]{32})/.exec(hash);
    if (m) v = threadView({ id: m[1], me, onError });
    else if (me.role === 'proxy' && !actingFor()) v = chooseFirstView();
    else if (hash.startsWith('#/messages/new') && (me.role === 'patient' || me.role === 'proxy')) v = composeView({ me, onError });
    else v = inboxView({ me, onError });
    clear(holder);
    holder.appendChild(v.node);
    document.title = `${v.title} – Patient Portal`;
    const h1 = holder.querySelector('h1');
    if (h1) h1.focus();
  }).catch((e) => onError(e));
  return view;
}
