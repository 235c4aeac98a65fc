// Sign-in: username and password. The server answers the same way for an unknown user and a wrong
// password, and so does this view; a locked account shows when to try again.

import { h, showError, setBusy } from '../dom.js';
import { fmtDuration } from '../format.js';

export function signinView({ api, notice, onSignedIn }) {
  const error = h('div', { id: 'signin-error', class: 'alert alert-error', role: 'alert', hidden: true });
  const username = h('input', { id: 'username', name: 'username', type: 'text', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Sign in');

  const form = h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'signin-heading' },
    error,
    h('div', { class: 'field' },
      h('label', { for: 'username' }, 'Username'),
      username),
    h('div', { class: 'field' },
      h('label', { for: 'password' }, 'Password'),
      password),
    submit);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const missing = [];
    if (!username.value.trim()) missing.push(username);
    if (!password.value) missing.push(password);
    if (missing.length) {
      showError(error, 'Enter your username and password.', missing);
      missing[0].focus();
      return;
    }
    showError(error, '', [username, password]);
    setBusy(submit, true, 'Signing in…');
    try {
      const res = await api.login(username.value.trim(), password.value);
      password.value = '';
      await onSignedIn(res);
    } catch (err) {
      setBusy(submit, false);
      password.value = '';
      let msg;
      if (err.code === 'locked' || err.status === 429) {
        const wait = err.retryAfterS;
        msg = 'Too many unsuccessful sign-in attempts. For your security, sign-in is paused' +
          (Number.isFinite(wait) ? `. Try again in ${fmtDuration(wait)}.` : '. Try again later.');
      } else if (err.status === 401 || err.code === 'invalid_credentials') {
        msg = 'The username or password is not correct.';
      } else if (err.status === 503) {
        msg = 'The portal is busy right now. Please try again in a moment.';
      } else if (err.code === 'network') {
        msg = err.message;
      } else {
        msg = 'Sign-in could not be completed. Please try again.';
      }
      showError(error, msg, [username, password]);
      password.focus();
    }
  });

  const view = h('div', { class: 'view view-signin' },
    h('div', { class: 'signin-layout' },
      h('section', { class: 'card signin-card', 'aria-labelledby': 'signin-heading' },
        h('h1', { id: 'signin-heading', tabindex: '-1' }, 'Sign in to your health record'),
        notice ? h('div', { class: `alert alert-${notice.kind || 'info'}`, role: 'status' }, notice.text) : null,
        form,
        h('p', { class: 'help-text' }, 'Forgot your password or locked out? Call your clinic’s front desk; staff can help you regain access after checking who you are.')),
      h('section', { class: 'signin-aside', 'aria-labelledby': 'aside-heading' },
        h('h2', { id: 'aside-heading' }, 'What you can do here'),
        h('ul', { class: 'check-list' },
          h('li', null, 'See your health problems, medications and allergies'),
          h('li', null, 'Review lab results and how they have changed over time'),
          h('li', null, 'Check your immunizations, vital signs and visits')),
        h('p', { class: 'muted' }, 'Your information is protected with two-step verification and encrypted storage. Every access to your record is logged.'))));

  return { node: view, title: 'Sign in', focus: notice ? null : username };
}
