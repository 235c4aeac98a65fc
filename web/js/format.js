// format — dates, numbers, ranges and lab flags for display. Dates from the API are ISO 8601
// ("YYYY-MM-DD" or a full timestamp); only the calendar date is shown, so no time zone shifts it.

const dateFmt = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', day: 'numeric', timeZone: 'UTC' });
const shortFmt = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', timeZone: 'UTC' });

export function parseDay(value) {
  if (typeof value !== 'string') return null;
  const m = /^(\d{4})-(\d{2})(?:-(\d{2}))?/.exec(value);
  if (!m) return null;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, m[3] ? Number(m[3]) : 1);
  return Number.isFinite(t) ? t : null;
}

export function fmtDate(value) {
  const t = parseDay(value);
  return t === null ? (value ? String(value) : '') : dateFmt.format(t);
}

export function fmtMonth(value) {
  const t = typeof value === 'number' ? value : parseDay(value);
  return t === null ? '' : shortFmt.format(t);
}

export function ageFrom(birthDate, now = Date.now()) {
  const t = parseDay(birthDate);
  if (t === null) return null;
  const b = new Date(t);
  const n = new Date(now);
  let age = n.getUTCFullYear() - b.getUTCFullYear();
  if (n.getUTCMonth() < b.getUTCMonth() ||
      (n.getUTCMonth() === b.getUTCMonth() && n.getUTCDate() < b.getUTCDate())) age -= 1;
  return age >= 0 ? age : null;
}

export function fmtNumber(v) {
  if (v === null || v === undefined || v === '') return '';
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) return String(v);
  const abs = Math.abs(n);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  return n.toLocaleString('en-US', { maximumFractionDigits: digits });
}

// A UCUM unit code (what lab systems send, e.g. "mm[Hg]", "10*3/uL", "mL/min/{1.73_m2}") as
// people write it ("mmHg", "×10³/µL", "mL/min/1.73 m²"). Unknown codes pass through.
const UNIT_WORDS = { Cel: '°C', '[degF]': '°F', '[lb_av]': 'lb', '[in_i]': 'in', '[oz_av]': 'oz', '%': '%' };
const SUPER = { 0: '⁰', 1: '¹', 2: '²', 3: '³', 4: '⁴', 5: '⁵', 6: '⁶', 7: '⁷', 8: '⁸', 9: '⁹', '-': '⁻' };
export function fmtUnit(unit) {
  if (typeof unit !== 'string' || !unit) return '';
  if (UNIT_WORDS[unit]) return UNIT_WORDS[unit];
  return unit
    .replace(/\{([^{}]*)\}/g, (_, note) => note.replace(/_/g, ' '))   // annotations: {1.73_m2}
    .replace(/\[([^\[\]]*)\]/g, '$1')                                 // bracketed atoms: mm[Hg]
    .replace(/^10\*(-?\d+)/, (_, e) => `×10${[...e].map((c) => SUPER[c]).join('')}`)
    .replace(/\bu(?=(L|g|mol|m|IU)\b)/g, 'µ')                           // micro-: uL, ug, umol
    .replace(/([a-zA-Z])([23])\b/g, (_, a, e) => `${a}${SUPER[e]}`);   // m2, m3
}

export function fmtValue(v, unit) {
  const num = fmtNumber(v);
  if (!num) return '';
  const u = fmtUnit(unit);
  return u ? `${num}${u === '%' || u.startsWith('°') ? '' : ' '}${u}` : num;
}

export function fmtRange(low, high, unit) {
  const lo = fmtNumber(low);
  const hi = fmtNumber(high);
  const fu = fmtUnit(unit);
  const u = fu ? `${fu === '%' || fu.startsWith('°') ? '' : ' '}${fu}` : '';
  if (lo && hi) return `${lo}–${hi}${u}`;
  if (lo) return `${lo} or more${u}`;
  if (hi) return `${hi} or less${u}`;
  return '';
}

// Normalises the API's lab flag (or, when absent, the value against the range) to
// {key: 'high'|'low'|'normal'|'abnormal'|'critical-high'|'critical-low', label}.
export function labFlag(flag, value, low, high) {
  let f = typeof flag === 'string' ? flag.trim().toLowerCase() : '';
  if (!f) {
    const n = Number(value);
    if (Number.isFinite(n) && value !== null && value !== '') {
      if (high !== null && high !== undefined && n > Number(high)) f = 'h';
      else if (low !== null && low !== undefined && n < Number(low)) f = 'l';
      else if ((high !== null && high !== undefined) || (low !== null && low !== undefined)) f = 'n';
    }
  }
  switch (f) {
    case 'hh': case 'critical high': case 'critical-high': case 'critical_high':
      return { key: 'critical-high', label: 'Critically high' };
    case 'll': case 'critical low': case 'critical-low': case 'critical_low':
      return { key: 'critical-low', label: 'Critically low' };
    case 'h': case 'high': case 'above': return { key: 'high', label: 'High' };
    case 'l': case 'low': case 'below': return { key: 'low', label: 'Low' };
    case 'n': case 'normal': case 'in range': return { key: 'normal', label: 'Normal' };
    case 'a': case 'abnormal': return { key: 'abnormal', label: 'Abnormal' };
    case '': return null;
    default: return { key: 'abnormal', label: flag };
  }
}

export function titleCase(v) {
  if (!v) return '';
  const t = String(v).replace(/[-_]/g, ' ');
  return t.charAt(0).toUpperCase() + t.slice(1);
}

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

export function fmtDuration(totalSeconds) {
  const s = Math.max(0, Math.ceil(totalSeconds));
  if (s < 60) return plural(s, 'second', 'seconds');
  const m = Math.ceil(s / 60);
  if (m < 60) return plural(m, 'minute', 'minutes');
  const hrs = Math.floor(m / 60);
  const rest = m % 60;
  return rest ? `${plural(hrs, 'hour', 'hours')} ${plural(rest, 'minute', 'minutes')}` : plural(hrs, 'hour', 'hours');
}
