// Sign up (self-enrolment): the patient gives their name and birth date as on their record and
// chooses where the code goes (the e-mail address or mobile number the clinic has on file); the
// server answers the same whether or not the details matched, so this view always says "if the
// details match, a code is on its way". Then: the code, a username and a password. MFA set-up
// follows at the first sign-in, as for every account.

import { h, showError, setBusy } from '../dom.js';
import { request } from '../api.js';

function field(id, label, input, hint) {
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    hint ? h('p', { id: `${id}-hint`, class: 'hint' }, hint) : null,
    input);
}

export function signupView({ onDone, onCancel }) {
  const error = h('div', { id: 'signup-error', class: 'alert alert-error', role: 'alert', hidden: true });
  const family = h('input', { id: 'signup-family', name: 'family', type: 'text', autocomplete: 'family-name', required: true });
  const given = h('input', { id: 'signup-given', name: 'given', type: 'text', autocomplete: 'given-name', required: true });
  const birth = h('input', { id: 'signup-birth', name: 'birth', type: 'date', autocomplete: 'bday', required: true, 'aria-describedby': 'signup-birth-hint' });
  const viaEmail = h('input', { id: 'signup-via-email', name: 'channel', type: 'radio', value: 'email', checked: true });
  const viaSms = h('input', { id: 'signup-via-sms', name: 'channel', type: 'radio', value: 'sms' });
  const next = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Send me a code');
  const cancel = h('button', { type: 'button', class: 'btn btn-link', onclick: onCancel }, 'Back to sign in');
  const heading = h('h1', { id: 'signup-heading', tabindex: '-1' }, 'Create your portal account');
  const body = h('div', null);
  const card = h('section', { class: 'card signin-card', 'aria-labelledby': 'signup-heading' }, heading, body,
    h('p', { class: 'help-text' }, cancel));
  const view = h('div', { class: 'view view-signup' }, h('div', { class: 'signin-layout' }, card));

  const step1 = h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'signup-heading' },
    h('p', null, 'Enter your name and date of birth exactly as your clinic has them. We will send a one-time code to the e-mail address or mobile number the clinic has on file for you.'),
    error,
    field('signup-family', 'Family name (last name)', family),
    field('signup-given', 'Given name (first name)', given),
    field('signup-birth', 'Date of birth', birth, 'As on your record.'),
    h('fieldset', { class: 'field' },
      h('legend', null, 'Send the code by'),
      h('div', null, viaEmail, h('label', { for: 'signup-via-email' }, ' E-mail')),
      h('div', null, viaSms, h('label', { for: 'signup-via-sms' }, ' Text message (SMS)'))),
    next);

  step1.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const missing = [family, given, birth].filter((i) => !i.value.trim());
    if (missing.length || !/^\d{4}-\d{2}-\d{2}$/.test(birth.value)) {
      showError(error, 'Enter your family name, given name and date of birth.', missing.length ? missing : [birth]);
      (missing[0] || birth).focus();
      return;
    }
    showError(error, '', [family, given, birth]);
    setBusy(next, true, 'Sending…');
    try {
      const res = await request('POST', '/enrol/self/start', {
        family_name: family.value.trim(), given_name: given.value.trim(), birth_date: birth.value,
        channel: viaSms.checked ? 'sms' : 'email',
      });
      showStep2(res);
    } catch (err) {
      setBusy(next, false);
      showError(error, err.status === 429
        ? 'Too many attempts from this device. Please wait a few minutes and try again.'
        : 'Your details could not be sent. Check them and try again.', []);
    }
  });

  function showStep2(start) {
    const error2 = h('div', { id: 'signup-error2', class: 'alert alert-error', role: 'alert', hidden: true });
    const code = h('input', { id: 'signup-code', name: 'code', type: 'text', inputmode: 'numeric', pattern: '[0-9]{6}', maxlength: '6', autocomplete: 'one-time-code', required: true, class: 'code-input', 'aria-describedby': 'signup-code-hint' });
    const username = h('input', { id: 'signup-username', name: 'username', type: 'text', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true });
    const password = h('input', { id: 'signup-password', name: 'password', type: 'password', autocomplete: 'new-password', required: true, 'aria-describedby': 'signup-password-hint' });
    const create = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create my account');
    const form = h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'signup-heading' },
      h('div', { class: 'alert alert-info', role: 'status' },
        `If your details match our records and we have your ${start.channel === 'sms' ? 'mobile number' : 'e-mail address'}, a 6-digit code is on its way. It is valid for a few minutes. No code? Check your details with your clinic’s front desk.`),
      error2,
      field('signup-code', '6-digit code', code, 'From the message we sent you.'),
      field('signup-username', 'Choose a username', username),
      field('signup-password', 'Choose a password', password, 'At least 12 characters; not a common password and not your username.'),
      create);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const value = code.value.replace(/\s+/g, '');
      if (!/^\d{6}$/.test(value) || !username.value.trim() || !password.value) {
        showError(error2, 'Enter the 6-digit code, a username and a password.', [code, username, password]);
        code.focus();
        return;
      }
      showError(error2, '', [code, username, password]);
      setBusy(create, true, 'Creating…');
      try {
        await request('POST', '/enrol/self/finish', { start_id: start.start_id, code: value, username: username.value.trim(), password: password.value });
        password.value = '';
        onDone({ kind: 'success', text: 'Your account is ready. Sign in with your new username and password, then set up two-step verification.' });
      } catch (err) {
        setBusy(create, false);
        password.value = '';
        const msg = {
          invalid_code: 'That code is not correct, has expired or was already used. Check it, or go back and start again.',
          weak_password: 'Choose a longer password that is not common and does not contain your username.',
          username_taken: 'That username is taken; choose another.',
          account_exists: 'Your record already has a portal account. Sign in, or ask your clinic’s front desk for help.',
          throttled: 'Too many attempts. Please wait a few minutes and try again.',
        }[err.code] || 'Your account could not be created. Please try again.';
        showError(error2, msg, err.code === 'invalid_code' ? [code] : err.code === 'weak_password' ? [password] : err.code === 'username_taken' ? [username] : []);
        (err.code === 'weak_password' ? password : err.code === 'username_taken' ? username : code).focus();
      }
    });
    body.replaceChildren(form);
    code.focus();
  }

  body.replaceChildren(step1);
  return { node: view, title: 'Create your account', focus: family };
}
