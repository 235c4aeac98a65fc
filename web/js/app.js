// app — starts the portal UI: asks the server which state the session is in (none, mfa, enrol,
// full) and shows the matching view; runs the idle monitor while a session exists; handles sign-out
// (by the person, by inactivity, or because the server ended the session).

import { api, onActivity, setCsrf, request } from './api.js';
import { clear, h } from './dom.js';
import { IdleMonitor } from './idle.js';
import { signinView } from './views/signin.js';
import { signupView } from './views/signup.js';
import { mfaView } from './views/mfa.js';
import { enrolView, recoveryCodesView } from './views/enrol.js';
import { summaryView } from './views/summary.js';
import { consentView, appsView } from './views/consent.js';
import { messagesView, refreshUnread } from './views/messages.js';
import { staffHomeView, chartView, privacyQueueView } from './views/staff.js';
import { proxyHomeView, clearActingFor } from './views/proxyhome.js';
import { documentsView } from './views/documents.js';

const SITE = 'Patient Portal';
const mainEl = document.getElementById('main');
const nav = document.getElementById('site-nav');
const navSummary = document.getElementById('nav-summary');
const navMessages = document.getElementById('nav-messages');
const navUnread = document.getElementById('nav-unread');
const signOutButton = document.getElementById('signout');
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('phiportal-auth') : null;

const MESSAGES = {
  inactive: { kind: 'warning', text: 'You were signed out after inactivity to protect your information. Please sign in again.' },
  signedOut: { kind: 'success', text: 'You have signed out. For your privacy, close the browser if you are on a shared computer.' },
  expired: { kind: 'warning', text: 'Your session has ended. Please sign in again.' },
};

let currentState = null; // null | 'mfa' | 'enrol' | 'full'
let currentRole = null;   // the signed-in account's role, once known
const navReviews = document.getElementById('nav-reviews');
const navDocuments = document.getElementById('nav-documents');
// a patient who is also someone's proxy (a parent, a spouse) also gets "People you act for"
const navActing = document.getElementById('nav-acting');
let actsForOthers = false;
let firstRender = true;

const idle = new IdleMonitor({
  dialog: document.getElementById('idle-dialog'),
  keepalive: () => api.keepalive().catch((err) => {
    if (err.status === 401) sessionLost(err);
    throw err;
  }),
  onExpire: () => endSession('inactive'),
  onSignOut: () => endSession('signedOut'),
});
onActivity(() => idle.touched());

function show(view) {
  clear(mainEl);
  mainEl.appendChild(view.node);
  document.title = `${view.title} – ${SITE}`;
  window.scrollTo(0, 0);
  // Move focus to the new view's heading so screen reader users hear the change (not on first load).
  if (!firstRender) {
    const target = view.focus || mainEl.querySelector('h1');
    if (target) target.focus();
  } else if (view.focus) {
    view.focus.focus();
  }
  firstRender = false;
}

// An app sent the browser here from /oauth/authorize (#/authorize/<request id>): once signed in,
// the consent view answers it. #/apps lists the connected apps.
function pendingAuthorize() {
  const m = window.location.hash.match(/^#\/authorize\/([A-Za-z0-9_-]{1,64})$/);
  return m ? m[1] : null;
}

function clearHash() {
  window.history.replaceState(null, '', window.location.pathname + window.location.search);
}

function setNav(state) {
  currentState = state;
  nav.hidden = !state;
  navSummary.hidden = state !== 'full';
  if (state !== 'full') currentRole = null;
  if (navReviews) navReviews.hidden = !(state === 'full' && currentRole === 'privacy_officer');
  if (navDocuments) navDocuments.hidden = !(state === 'full' && currentRole === 'patient');
  if (state !== 'full') actsForOthers = false;
  if (navActing) navActing.hidden = !(state === 'full' && currentRole === 'patient' && actsForOthers);
  navSummary.textContent = currentRole === 'proxy' ? 'People you act for'
    : currentRole && currentRole !== 'patient' ? 'My patients' : 'Health summary';
  if (navMessages) navMessages.hidden = state !== 'full';
  if (state === 'full') refreshUnread(navUnread);
}

function showSignin(notice) {
  setNav(null);
  setCsrf(null);
  clearActingFor();   // the next person in this tab acts for no one
  // self-enrolment (#/signup), offered from the sign-in page
  if (!notice && window.location.hash === '#/signup') {
    show(signupView({ onDone: (msg) => { clearHash(); showSignin(msg); }, onCancel: () => { clearHash(); showSignin(); } }));
    return;
  }
  show(signinView({ api, notice, onSignedIn: (res) => afterAuthStep(res.state) }));
}

// Ends the session on the server (best effort), then shows the sign-in view with a message.
async function endSession(reason, { tellOthers = true, callServer = true } = {}) {
  idle.stop();
  if (callServer) {
    try { await api.logout(); } catch { /* already gone on the server: nothing left to end */ }
  }
  if (tellOthers && channel) channel.postMessage({ type: 'signout', reason });
  showSignin(MESSAGES[reason] || MESSAGES.expired);
}

// Any 401 from the API outside the sign-in steps means the server no longer knows the session.
// A 409 (wrong_state) means another tab moved the session on: show what the server says now.
function sessionLost(err) {
  if (err && ((err.status === 401 && err.code === 'mfa_required') || err.status === 409)) return route();
  return endSession('expired', { callServer: false });
}

async function startIdle() {
  try {
    idle.start(await api.session());
  } catch (err) {
    if (err.status === 401) sessionLost(err);
  }
}

async function afterAuthStep(state, extra = {}) {
  await startIdle();
  if (!idle.running) return;
  showState(state, extra);
}

function showState(state, extra = {}) {
  setNav(state);
  if (state === 'enrol') {
    show(enrolView({
      api,
      onEnrolled: async (res) => {
        await startIdle();
        if (!idle.running) return;
        setNav('full');
        show(recoveryCodesView({ codes: res.recovery_codes, onContinue: () => showState('full') }));
      },
      onCancel: () => endSession('signedOut'),
      onLocked: (text) => { idle.stop(); showSignin({ kind: 'error', text }); },
      onSessionLost: sessionLost,
    }));
  } else if (state === 'mfa') {
    show(mfaView({
      api,
      onVerified: (res, usedRecovery) => {
        const left = Number(res.remaining);
        const notice = usedRecovery ? {
          kind: Number.isFinite(left) && left <= 3 ? 'warning' : 'info',
          text: `You signed in with a recovery code. ${Number.isFinite(left) ? `You have ${left} recovery ${left === 1 ? 'code' : 'codes'} left.` : ''}${Number.isFinite(left) && left <= 3 ? ' Ask your clinic to reset two-step verification to get new codes.' : ''}`.trim(),
        } : null;
        return afterAuthStep(res.state, { notice });
      },
      onCancel: () => endSession('signedOut'),
      onLocked: (text) => { idle.stop(); showSignin({ kind: 'error', text }); },
      onSessionLost: sessionLost,
    }));
  } else if (state === 'full' && !currentRole) {
    // the role decides the home view (patients: their summary; staff: their patients)
    api.me().then(async (me) => {
      currentRole = me.role || 'patient';
      if (currentRole === 'patient') {
        // records shared with this patient as someone's proxy (none for most patients)
        actsForOthers = await request('GET', '/me/proxies')
          .then((res) => (res.acting_for || []).some((g) => g.patient_id)).catch(() => false);
      }
      showState('full', extra);
    }).catch((err) => { if (err.status === 401) sessionLost(err); else { currentRole = 'patient'; showState('full', extra); } });
  } else if (state === 'full' && pendingAuthorize()) {
    show(consentView({ requestId: pendingAuthorize(), onDone: () => { clearHash(); showState('full'); }, onError: sessionLost }));
  } else if (state === 'full' && window.location.hash.startsWith('#/messages')) {
    show(messagesView({ onError: sessionLost }));
  } else if (state === 'full' && window.location.hash === '#/apps') {
    show(appsView({ onError: sessionLost }));
  } else if (state === 'full' && /^#\/patients\/[0-9a-f]{1,64}$/.test(window.location.hash)) {
    const id = window.location.hash.slice('#/patients/'.length);
    show(chartView({ api, patientId: id, onError: sessionLost, rerender: () => showState('full') }));
  } else if (state === 'full' && /^#\/documents(\/[0-9a-f]{1,64})?$/.test(window.location.hash)) {
    // the patient's own documents (#/documents), or a record's (#/documents/<id>) for staff
    const m = window.location.hash.match(/^#\/documents\/([0-9a-f]{1,64})$/);
    const ownId = () => api.me().then((me) => me.patient_id);
    Promise.resolve(m ? m[1] : ownId()).then((id) => show(documentsView({ patientId: id, onError: sessionLost })))
      .catch((err) => sessionLost(err));
  } else if (state === 'full' && window.location.hash === '#/privacy' && currentRole === 'privacy_officer') {
    show(privacyQueueView({ onError: sessionLost }));
  } else if (state === 'full' && (currentRole === 'proxy' ||
             (currentRole === 'patient' && actsForOthers && window.location.hash === '#/acting-for'))) {
    show(proxyHomeView({ onError: sessionLost }));
  } else if (state === 'full' && currentRole !== 'patient') {
    show(staffHomeView({ onError: sessionLost }));
  } else if (state === 'full') {
    show(summaryView({ api, notice: extra.notice, onError: sessionLost }));
  } else {
    showSignin();
  }
}

async function route() {
  let session;
  try {
    session = await api.session();
  } catch (err) {
    idle.stop();
    if (err.status === 401) {
      showSignin(err.code === 'session_expired' ? MESSAGES.expired : null);
    } else {
      setNav(null);
      show({ node: h('div', { class: 'view' },
        h('h1', { tabindex: '-1' }, 'The portal is not available'),
        h('p', { role: 'alert', class: 'alert alert-error' }, 'The portal could not be reached. Please try again in a few minutes.'),
        h('button', { type: 'button', class: 'btn btn-primary', onclick: () => route() }, 'Try again')), title: 'Not available' });
    }
    return;
  }
  idle.start(session);
  showState(session.state);
}

signOutButton.addEventListener('click', () => endSession('signedOut'));
// a patient's own Messages: leave the record they may have been acting for
if (navMessages) navMessages.addEventListener('click', () => { if (currentRole === 'patient') clearActingFor(); });
// Messages live under #/messages…: following a link there re-renders the view.
window.addEventListener('hashchange', () => {
  if (!currentState && window.location.hash === '#/signup') showSignin();
  if (currentState === 'full' && /^#\/(messages|patients\/|privacy$|documents|acting-for$|$)/.test(window.location.hash)) showState('full');
});
navSummary.addEventListener('click', (ev) => {
  ev.preventDefault();
  if (window.location.hash.startsWith('#/messages')) clearHash();
  if (currentState === 'full') showState('full');
});
if (channel) {
  channel.onmessage = (ev) => {
    const m = ev.data || {};
    if (m.type === 'signout' && currentState) endSession(m.reason, { tellOthers: false, callServer: false });
  };
}
// A skip link must move keyboard focus, not only scroll.
document.getElementById('skip-link').addEventListener('click', (ev) => {
  ev.preventDefault();
  mainEl.focus();
  mainEl.scrollIntoView();
});

route();
