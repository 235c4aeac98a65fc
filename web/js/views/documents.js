// Documents: the documents on a record (uploaded by the patient or the care team, each a FHIR
// DocumentReference) with download links, and an upload form (PDF, PNG, JPEG or plain text; the
// server checks the type from the content and scans every file for malware before keeping it).

import { h, showError, setBusy } from '../dom.js';
import { request, upload } from '../api.js';
import { fmtDate } from '../format.js';

const ACCEPT = '.pdf,.png,.jpg,.jpeg,.txt,application/pdf,image/png,image/jpeg,text/plain';
const KIND = { 'application/pdf': 'PDF', 'image/png': 'PNG image', 'image/jpeg': 'JPEG image', 'text/plain': 'Text' };

function size(n) {
  return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : n >= 1024 ? `${Math.round(n / 1024)} KB` : `${n} bytes`;
}

// patientId: the record's opaque id (the patient's own, or one a staff member or proxy may see)
export function documentsView({ patientId, onError }) {
  const view = h('div', { class: 'view view-documents' });
  const status = h('div', { role: 'status', class: 'alert alert-success', hidden: true });
  const error = h('div', { class: 'alert alert-error', role: 'alert', hidden: true });
  const list = h('div', null, h('p', { class: 'muted' }, 'Loading documents…'));
  const file = h('input', { type: 'file', id: 'doc-file', accept: ACCEPT, 'aria-describedby': 'doc-hint' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Upload document');
  const form = h('form', { class: 'form', novalidate: true }, error,
    h('div', { class: 'field' },
      h('label', { for: 'doc-file' }, 'Document'),
      h('p', { id: 'doc-hint', class: 'hint' }, 'PDF, PNG, JPEG or plain text, up to 25 MB. Every file is checked for viruses.'),
      file),
    submit);
  view.append(
    h('div', { class: 'page-head' }, h('h1', { id: 'documents-heading', tabindex: '-1' }, 'Documents')),
    status,
    h('section', { class: 'card', 'aria-labelledby': 'doc-list-heading' }, h('h2', { id: 'doc-list-heading' }, 'On the record'), list),
    h('section', { class: 'card', 'aria-labelledby': 'doc-up-heading' }, h('h2', { id: 'doc-up-heading' }, 'Add a document'), form));

  function load() {
    request('GET', `/patients/${encodeURIComponent(patientId)}/documents`).then((res) => {
      list.replaceChildren(res.documents.length
        ? h('ul', { class: 'doc-list' }, res.documents.map((d) => h('li', null,
          d.status === 'clean'
            ? h('a', { href: `/api/v1/files/${encodeURIComponent(d.file_id)}`, download: '' }, d.name || 'Document')
            : h('span', null, `${d.name || 'Document'} (waiting for a virus scan)`),
          ` — ${KIND[d.type] || 'File'}, ${size(d.size)}${d.created ? `, ${fmtDate(d.created)}` : ''}`)))
        : h('p', null, 'No documents are on this record yet.'));
    }).catch((err) => {
      if (err.status === 401) onError(err);
      else list.replaceChildren(h('p', null, 'The documents could not be loaded.'));
    });
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    status.hidden = true;
    if (!file.files || !file.files.length) {
      showError(error, 'Choose a file to upload.', [file]);
      file.focus();
      return;
    }
    showError(error, '', [file]);
    setBusy(submit, true, 'Uploading…');
    try {
      await upload(`/patients/${encodeURIComponent(patientId)}/documents`, file.files[0]);
      status.textContent = 'The document was added to the record.';
      status.hidden = false;
      file.value = '';
      load();
    } catch (err) {
      if (err.status === 401) return onError(err);
      showError(error, err.message || 'The document could not be uploaded.', [file]);
    } finally {
      setBusy(submit, false);
    }
  });
  load();
  return { node: view, title: 'Documents' };
}
