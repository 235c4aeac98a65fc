// Unit tests of the web UI's display helpers (web/js/format.js), which run in Node as they are:
// lab flags, reference ranges, dates without time-zone shifts, ages and durations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labFlag, fmtRange, fmtDate, fmtUnit, fmtValue, ageFrom, fmtDuration, parseDay } from '../../web/js/format.js';

test('lab flags: FHIR interpretation codes and words', () => {
  assert.equal(labFlag('H').key, 'high');
  assert.equal(labFlag('L').label, 'Low');
  assert.equal(labFlag('HH').key, 'critical-high');
  assert.equal(labFlag('LL').key, 'critical-low');
  assert.equal(labFlag('N').key, 'normal');
  assert.equal(labFlag('A').key, 'abnormal');
  assert.deepEqual(labFlag('POS'), { key: 'abnormal', label: 'POS' });
});

test('lab flags: computed from the range when the API sends none', () => {
  assert.equal(labFlag(null, 133, 70, 99).key, 'high');
  assert.equal(labFlag(null, 3.1, 3.5, 5.1).key, 'low');
  assert.equal(labFlag(null, 99, 70, 99).key, 'normal', 'the upper limit is inside the range');
  assert.equal(labFlag(null, 250, null, 200).key, 'high', 'open-ended range');
  assert.equal(labFlag(null, 'positive', 1, 2), null, 'text values are not compared');
  assert.equal(labFlag(null, 5, null, null), null, 'no range, no flag');
  assert.equal(labFlag(null, null, 1, 2), null);
});

test('reference ranges and values', () => {
  assert.equal(fmtRange(70, 99, 'mg/dL'), '70–99 mg/dL');
  assert.equal(fmtRange(40, null, 'mg/dL'), '40 or more mg/dL');
  assert.equal(fmtRange(null, 200, 'mg/dL'), '200 or less mg/dL');
  assert.equal(fmtRange(null, null, 'mg/dL'), '');
  assert.equal(fmtValue(0.9612, 'mg/dL'), '0.96 mg/dL');
  assert.equal(fmtValue(144.4, 'mmol/L'), '144 mmol/L');
  assert.equal(fmtValue(null, 'kg'), '');
  assert.equal(fmtValue('pending', null), 'pending');
});

test('UCUM unit codes are shown as people write them', () => {
  assert.equal(fmtUnit('mm[Hg]'), 'mmHg');
  assert.equal(fmtUnit('Cel'), '°C');
  assert.equal(fmtUnit('10*3/uL'), '×10³/µL');
  assert.equal(fmtUnit('m[IU]/L'), 'mIU/L');
  assert.equal(fmtUnit('kg/m2'), 'kg/m²');
  assert.equal(fmtUnit('umol/L'), 'µmol/L');
  assert.equal(fmtUnit('mg/dL'), 'mg/dL');
  assert.equal(fmtUnit('/min'), '/min');
  assert.equal(fmtUnit(null), '');
  assert.equal(fmtValue(36.8, 'Cel'), '36.8°C');
  assert.equal(fmtValue(12, '%'), '12%');
  assert.equal(fmtRange(60, null, 'mL/min/{1.73_m2}'), '60 or more mL/min/1.73 m²');
  assert.equal(fmtValue(126, 'mm[Hg]'), '126 mmHg');
});

test('dates are calendar dates, never shifted by the time zone', () => {
  assert.equal(fmtDate('2021-03-04'), 'Mar 4, 2021');
  assert.equal(fmtDate('2021-03-04T23:30:00-05:00'), 'Mar 4, 2021');
  assert.equal(fmtDate('1976-01'), 'Jan 1, 1976');
  assert.equal(fmtDate(null), '');
  assert.equal(fmtDate('garbage'), 'garbage');
  assert.equal(parseDay('nope'), null);
});

test('age from birth date', () => {
  const now = Date.UTC(2026, 10, 25);
  assert.equal(ageFrom('1960-04-13', now), 66);
  assert.equal(ageFrom('1960-11-25', now), 66, 'birthday today');
  assert.equal(ageFrom('1960-11-26', now), 65, 'birthday tomorrow');
  assert.equal(ageFrom('2030-01-01', now), null);
  assert.equal(ageFrom(null, now), null);
});

test('durations for lockout and idle messages', () => {
  assert.equal(fmtDuration(1), '1 second');
  assert.equal(fmtDuration(45), '45 seconds');
  assert.equal(fmtDuration(60), '1 minute');
  assert.equal(fmtDuration(840), '14 minutes');
  assert.equal(fmtDuration(900), '15 minutes');
  assert.equal(fmtDuration(3600), '1 hour');
  assert.equal(fmtDuration(5400), '1 hour 30 minutes');
  assert.equal(fmtDuration(-5), '0 seconds');
});
