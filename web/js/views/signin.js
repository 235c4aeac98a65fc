// Sign-in: username and password. The server answers the same way for an unknown user and a wrong
// password, and so does this view; a locked account shows when to try again.

import { h, showError, setBusy } from '../dom.js';
import { request } from '../api.js';
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
      } else if (err.code === 'password_login_disabled') {
        msg = 'Staff sign in with their organisation account: use “Sign in with your organisation”.';
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

  // Staff: sign-in through the organisation's identity provider, offered when the server has it on.
  // The provider sends the browser back to /#/sso-error/<code> when a sign-in was refused.
  const SSO_ERRORS = {
    sso_mfa_required: 'Your organisation did not confirm a second sign-in step (such as a code or security key). Sign in again and complete it.',
    sso_expired: 'The sign-in took too long. Please try again.',
    sso_unavailable: 'Your organisation’s sign-in service could not be reached. Please try again later.',
    sso_refused: 'Sign-in through your organisation was not accepted. If you should have access, contact your administrator.',
  };
  const ssoMatch = window.location.hash.match(/^#\/sso-error\/([a-z_]{1,32})$/);
  const ssoError = ssoMatch ? (SSO_ERRORS[ssoMatch[1]] || SSO_ERRORS.sso_refused) : null;
  if (ssoMatch) window.history.replaceState(null, '', window.location.pathname + window.location.search);
  const ssoBox = h('div', { class: 'sso-signin', hidden: true },
    h('p', { class: 'muted' }, 'Staff of the organisation:'),
    h('a', { id: 'sso-signin', class: 'btn btn-secondary btn-block', href: '/api/v1/auth/sso/start' }, 'Sign in with your organisation'));
  request('GET', '/auth/methods').then((m) => { if (m && m.sso === true) ssoBox.hidden = false; }, () => {});

  const view = h('div', { class: 'view view-signin' },
    h('div', { class: 'signin-layout' },
      h('section', { class: 'card signin-card', 'aria-labelledby': 'signin-heading' },
        h('h1', { id: 'signin-heading', tabindex: '-1' }, 'Sign in to your health record'),
        notice ? h('div', { class: `alert alert-${notice.kind || 'info'}`, role: 'status' }, notice.text) : null,
        ssoError ? h('div', { id: 'sso-error', class: 'alert alert-error', role: 'alert' }, ssoError) : null,
        form,
        ssoBox,
        h('p', { class: 'help-text' }, 'New to the portal? ', h('a', { id: 'signup-link', href: '#/signup' }, 'Create your account'), ' with your name, date of birth and the e-mail or mobile number your clinic has on file.'),
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
