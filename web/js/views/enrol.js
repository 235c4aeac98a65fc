// MFA enrolment: QR code (the server's SVG shown through a data: URL in an <img>, so nothing in it
// can run), the secret for manual entry, the first code, then the ten recovery codes shown once.

import { h, showError, setBusy } from '../dom.js';

function groupSecret(secret) {
  return String(secret || '').replace(/\s+/g, '').replace(/(.{4})(?=.)/g, '$1 ');
}

function qrImage(svgText) {
  // Only an SVG document is accepted; as an <img> it cannot run script or load anything.
  const doc = new DOMParser().parseFromString(String(svgText || ''), 'image/svg+xml');
  const root = doc.documentElement;
  if (!root || root.localName !== 'svg' || doc.getElementsByTagName('parsererror').length) return null;
  const text = new XMLSerializer().serializeToString(root);
  return h('img', {
    class: 'qr-code', src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(text)}`,
    alt: 'QR code to scan with your authenticator app', width: '200', height: '200',
  });
}

export function enrolView({ api, onEnrolled, onCancel, onLocked, onSessionLost }) {
  const heading = h('h1', { id: 'enrol-heading', tabindex: '-1' }, 'Set up two-step verification');
  const status = h('p', { class: 'muted', role: 'status' }, 'Preparing your setup code…');
  const body = h('div', null, status);
  const card = h('section', { class: 'card', 'aria-labelledby': 'enrol-heading' },
    heading,
    h('p', null, 'Your portal account is protected with a second step at sign-in: a 6-digit code from an authenticator app on your phone (for example Google Authenticator, Microsoft Authenticator or FreeOTP).'),
    body,
    h('p', { class: 'help-text' },
      h('button', { type: 'button', class: 'btn btn-link', onclick: onCancel }, 'Cancel and sign out')));
  const view = h('div', { class: 'view view-enrol' }, card);

  async function load() {
    let data;
    try {
      data = await api.enrolStart();
    } catch (err) {
      if (err.status === 401 || err.status === 409) return onSessionLost(err);
      status.textContent = '';
      body.replaceChildren(h('div', { class: 'alert alert-error', role: 'alert' },
        'Two-step verification could not be prepared. ',
        h('button', { type: 'button', class: 'btn btn-link', onclick: () => { body.replaceChildren(status); status.textContent = 'Preparing your setup code…'; load(); } }, 'Try again')));
      return;
    }
    const img = qrImage(data.qr_svg);
    const error = h('div', { id: 'enrol-error', class: 'alert alert-error', role: 'alert', hidden: true });
    const code = h('input', { id: 'enrol-code', name: 'code', type: 'text', inputmode: 'numeric', pattern: '[0-9]{6}', maxlength: '6', autocomplete: 'one-time-code', required: true, class: 'code-input', 'aria-describedby': 'enrol-code-hint' });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Verify and turn on');
    const form = h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'step3-heading' },
      error,
      h('div', { class: 'field' },
        h('label', { for: 'enrol-code' }, '6-digit code'),
        h('p', { id: 'enrol-code-hint', class: 'hint' }, 'The code changes every 30 seconds.'),
        code),
      submit);

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const value = code.value.replace(/\s+/g, '');
      if (!/^\d{6}$/.test(value)) {
        showError(error, 'Enter the 6 digits shown in your authenticator app.', [code]);
        code.focus();
        return;
      }
      showError(error, '', [code]);
      setBusy(submit, true, 'Checking…');
      try {
        const res = await api.enrolConfirm(value);
        await onEnrolled(res);
      } catch (err) {
        setBusy(submit, false);
        code.value = '';
        if (err.code === 'locked' || err.status === 429) {
          onLocked('Too many incorrect codes. For your security you have been signed out; try again later.');
          return;
        }
        if ((err.status === 401 && err.code !== 'invalid_code') || err.status === 409) {
          onSessionLost(err);
          return;
        }
        showError(error, err.code === 'invalid_code'
          ? 'That code did not match. Check that the time on your phone is set automatically, then enter the current code.'
          : 'The code could not be checked. Please try again.', [code]);
        code.focus();
      }
    });

    body.replaceChildren(
      h('ol', { class: 'steps' },
        h('li', null,
          h('h2', { class: 'step-title' }, 'Install an authenticator app'),
          h('p', null, 'If you do not have one yet, install an authenticator app from your phone’s app store.')),
        h('li', null,
          h('h2', { class: 'step-title' }, 'Add this portal to the app'),
          h('div', { class: 'qr-row' },
            img ? h('div', { class: 'qr-frame' }, img) : h('p', { class: 'alert alert-info' }, 'The QR code cannot be shown; use the setup key instead.'),
            h('div', null,
              h('p', null, 'Scan the QR code with the app. If you cannot scan it, choose “enter a setup key” in the app and type this key:'),
              h('p', { class: 'secret' },
                h('span', { class: 'secret-label' }, 'Setup key'),
                h('code', { id: 'mfa-secret', 'data-secret': data.secret }, groupSecret(data.secret))),
              h('p', { class: 'hint' }, 'Time-based, 6 digits, 30 seconds. Keep this key private.')))),
        h('li', null,
          h('h2', { class: 'step-title', id: 'step3-heading' }, 'Enter the code from the app'),
          form)));
  }

  load();
  return { node: view, title: 'Set up two-step verification', focus: null };
}

export function recoveryCodesView({ codes, onContinue }) {
  const list = h('ol', { class: 'recovery-codes', id: 'recovery-codes' },
    (codes || []).map((c) => h('li', null, h('code', null, c))));
  const copied = h('p', { class: 'hint', role: 'status' });
  const copy = h('button', { type: 'button', class: 'btn btn-secondary', onclick: async () => {
    try {
      await navigator.clipboard.writeText((codes || []).join('\n'));
      copied.textContent = 'The codes were copied. Paste them somewhere safe.';
    } catch {
      copied.textContent = 'Copying is not available here; write the codes down or print this page.';
    }
  } }, 'Copy codes');
  const print = h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => window.print() }, 'Print');
  const done = h('button', { type: 'button', class: 'btn btn-primary', onclick: onContinue }, 'I saved them — continue');

  const view = h('div', { class: 'view view-recovery' },
    h('section', { class: 'card', 'aria-labelledby': 'recovery-heading' },
      h('div', { class: 'alert alert-success', role: 'status' }, 'Two-step verification is on.'),
      h('h1', { id: 'recovery-heading', tabindex: '-1' }, 'Save your recovery codes'),
      h('p', null, 'If you lose your phone, each of these codes lets you sign in once instead of a code from the app. ',
        h('strong', null, 'They are shown only this one time.'),
        ' Keep them somewhere safe and private, such as a password manager or a printed copy at home.'),
      list,
      h('div', { class: 'actions no-print' }, copy, print),
      copied,
      h('div', { class: 'actions actions-end no-print' }, done)));
  return { node: view, title: 'Save your recovery codes', focus: null };
}
