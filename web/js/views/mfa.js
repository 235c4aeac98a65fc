// MFA challenge: the 6-digit code from the authenticator app, or one of the recovery codes.

import { h, showError, setBusy } from '../dom.js';
import { fmtDuration } from '../format.js';

function codeError(err) {
  if (err.code === 'locked' || err.status === 429) {
    return 'Too many incorrect codes. For your security you have been signed out' +
      (Number.isFinite(err.retryAfterS) ? `; try again in ${fmtDuration(err.retryAfterS)}.` : '; try again later.');
  }
  if (err.status === 401 && err.code === 'invalid_code') {
    return 'That code is not valid. Check your authenticator app and try again. Each code works only once.';
  }
  if (err.code === 'network') return err.message;
  return 'The code could not be checked. Please try again.';
}

export function mfaView({ api, onVerified, onCancel, onLocked, onSessionLost }) {
  const view = h('div', { class: 'view view-mfa' });
  const card = h('section', { class: 'card narrow', 'aria-labelledby': 'mfa-heading' });
  view.appendChild(card);

  function render(mode) {
    while (card.firstChild) card.removeChild(card.firstChild);
    const recovery = mode === 'recovery';
    const error = h('div', { id: 'mfa-error', class: 'alert alert-error', role: 'alert', hidden: true });
    const input = recovery
      ? h('input', { id: 'mfa-code', name: 'recovery_code', type: 'text', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', required: true, 'aria-describedby': 'mfa-hint' })
      : h('input', { id: 'mfa-code', name: 'code', type: 'text', inputmode: 'numeric', pattern: '[0-9]{6}', maxlength: '6', autocomplete: 'one-time-code', required: true, 'aria-describedby': 'mfa-hint', class: 'code-input' });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Verify');
    const form = h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'mfa-heading' },
      error,
      h('div', { class: 'field' },
        h('label', { for: 'mfa-code' }, recovery ? 'Recovery code' : '6-digit code'),
        h('p', { id: 'mfa-hint', class: 'hint' }, recovery
          ? 'Enter one of the recovery codes you saved when you set up two-step verification. Each code can be used once.'
          : 'Open your authenticator app and enter the current code for this portal.'),
        input),
      h('div', { class: 'actions' },
        submit,
        h('button', { type: 'button', class: 'btn btn-link', onclick: () => { render(recovery ? 'totp' : 'recovery'); document.getElementById('mfa-code').focus(); } },
          recovery ? 'Use a code from your authenticator app' : 'Use a recovery code instead')));

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const value = input.value.replace(/\s+/g, '');
      if (!recovery && !/^\d{6}$/.test(value)) {
        showError(error, 'Enter the 6 digits shown in your authenticator app.', [input]);
        input.focus();
        return;
      }
      if (recovery && !value) {
        showError(error, 'Enter one of your recovery codes.', [input]);
        input.focus();
        return;
      }
      showError(error, '', [input]);
      setBusy(submit, true, 'Checking…');
      try {
        const res = recovery ? await api.recover(value) : await api.verify(value);
        await onVerified(res, recovery);
      } catch (err) {
        setBusy(submit, false);
        input.value = '';
        if (err.code === 'locked' || err.status === 429) {
          onLocked(codeError(err));
          return;
        }
        if ((err.status === 401 && err.code !== 'invalid_code') || err.status === 409) {
          onSessionLost(err);
          return;
        }
        showError(error, codeError(err), [input]);
        input.focus();
      }
    });

    card.append(
      h('h1', { id: 'mfa-heading', tabindex: '-1' }, 'Two-step verification'),
      h('p', null, recovery
        ? 'If you cannot use your authenticator app, sign in with a recovery code.'
        : 'To protect your health information, confirm it is you with the code from your authenticator app.'),
      form,
      h('p', { class: 'help-text' },
        h('button', { type: 'button', class: 'btn btn-link', onclick: onCancel }, 'Cancel and sign out')));
    return input;
  }

  const first = render('totp');
  return { node: view, title: 'Two-step verification', focus: first };
}
