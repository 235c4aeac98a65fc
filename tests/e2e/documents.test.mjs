// Documents in real Chromium: a patient uploads a PDF to their record on the Documents page (real
// clamd scanning it), sees it listed and downloads the same bytes; a clinician on the care team
// opens the chart's documents, adds a PNG and the patient sees it; an EICAR file is refused with a
// plain message. axe-core finds nothing on the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeData, startServer, setConfig, signIn } from '../api/harness.mjs';
import { startClamd, EICAR } from '../api/clamd.mjs';
import { openBrowser, expectAccessible, adoptSession } from './browser.mjs';

const PDF = Buffer.from('%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n');
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082', 'hex');
let d, srv, clamd, patient, patientId, clinician;

before(async () => {
  d = makeData();
  clamd = await startClamd();
  setConfig(d.dir, { 'files.clamd_socket': clamd.socket });
  srv = await startServer(d.dir, { publicUrl: true });
  const acct = d.accounts.find((a) => a.username === 'demo.patient1');   // on demo.clinician's care team
  patientId = acct.patient_id;
  patient = await signIn(srv, acct);
  clinician = await signIn(srv, d.accounts.find((a) => a.username === 'demo.clinician'));
});
after(async () => { await srv?.stop(); await clamd?.stop(); d?.cleanup(); });

test('a patient uploads and downloads a document; the care team adds one; malware is refused', async () => {
  const pb = await openBrowser();
  try {
    await adoptSession(pb.context, srv.publicUrl, patient);
    await pb.page.goto(`${srv.publicUrl}/`);
    await pb.page.getByRole('link', { name: 'Documents' }).click();
    await pb.page.getByRole('heading', { level: 1, name: 'Documents' }).waitFor();
    await pb.page.getByText('No documents are on this record yet.').waitFor();
    await expectAccessible(pb.page, 'documents view');
    await pb.page.getByLabel('Document', { exact: true }).setInputFiles({ name: 'discharge-summary.pdf', mimeType: 'application/pdf', buffer: PDF });
    await pb.page.getByRole('button', { name: 'Upload document' }).click();
    await pb.page.getByText('The document was added to the record.').waitFor();
    const link = pb.page.getByRole('link', { name: 'discharge-summary.pdf' });
    await link.waitFor();
    const dl = await patient.get((await link.getAttribute('href')));
    assert.equal(dl.status, 200);
    assert.equal(dl.text, PDF.toString());
    // malware: refused, nothing listed
    await pb.page.getByLabel('Document', { exact: true }).setInputFiles({ name: 'invoice.txt', mimeType: 'text/plain', buffer: Buffer.from(EICAR) });
    await pb.page.getByRole('button', { name: 'Upload document' }).click();
    await pb.page.locator('.view-documents .alert-error').filter({ hasText: /malware|virus/i }).waitFor();
    assert.equal(await pb.page.getByRole('link', { name: 'invoice.txt' }).count(), 0);
    assert.deepEqual(pb.problems, []);
  } finally { await pb.close(); }

  // the clinician adds a PNG from the chart
  const cb = await openBrowser();
  try {
    await adoptSession(cb.context, srv.publicUrl, clinician);
    await cb.page.goto(`${srv.publicUrl}/#/patients/${patientId}`);
    await cb.page.getByRole('link', { name: 'Documents' }).first().click();
    await cb.page.getByRole('link', { name: 'discharge-summary.pdf' }).waitFor();
    await cb.page.getByLabel('Document', { exact: true }).setInputFiles({ name: 'wound-photo.png', mimeType: 'image/png', buffer: PNG });
    await cb.page.getByRole('button', { name: 'Upload document' }).click();
    await cb.page.getByRole('link', { name: 'wound-photo.png' }).waitFor();
    assert.deepEqual(cb.problems, []);
  } finally { await cb.close(); }
  const list = await patient.get(`/api/v1/patients/${patientId}/documents`);
  assert.deepEqual(list.json.documents.map((x) => x.name).sort(), ['discharge-summary.pdf', 'wound-photo.png']);
});
