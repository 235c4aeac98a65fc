// chart — a lab trend as inline SVG built with DOM APIs (no markup strings, no inline styles: the
// look comes from classes in portal.css). The SVG is role="img" with a title and a description;
// the same numbers are always available as a table next to it.

import { s, h, nextId } from './dom.js';
import { parseDay, fmtDate, fmtMonth, fmtNumber, fmtRange, fmtUnit, fmtValue, labFlag } from './format.js';

const W = 420;
const H = 210;
const M = { top: 26, right: 16, bottom: 34, left: 56 };

function niceTicks(lo, hi, count) {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((st) => span / st <= count) || 10 * mag;
  const first = Math.floor(lo / step) * step;
  const ticks = [];
  for (let v = first; v <= hi + step * 0.5; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function numeric(points) {
  return points
    .map((p) => ({ t: parseDay(p.date), v: Number(p.value), date: p.date }))
    .filter((p) => p.t !== null && p.value !== null && Number.isFinite(p.v));
}

// A trend is drawn only when it has at least two dated numeric results.
export function chartable(trend) {
  return Boolean(trend) && Array.isArray(trend.points) && numeric(trend.points).length >= 2;
}

export function describeTrend(trend) {
  const pts = numeric(trend.points || []);
  if (!pts.length) return 'No numeric results.';
  const last = pts[pts.length - 1];
  const range = fmtRange(trend.ref_low, trend.ref_high, trend.unit);
  const lo = Math.min(...pts.map((p) => p.v));
  const hi = Math.max(...pts.map((p) => p.v));
  let text = `${pts.length} results from ${fmtDate(pts[0].date)} to ${fmtDate(last.date)}. ` +
    `Most recent: ${fmtValue(last.v, trend.unit)} on ${fmtDate(last.date)}. ` +
    `Lowest ${fmtValue(lo, trend.unit)}, highest ${fmtValue(hi, trend.unit)}.`;
  if (range) text += ` Reference range ${range}.`;
  return text;
}

export function trendChart(trend) {
  const pts = numeric(trend.points || []);
  const titleId = nextId('chart-title');
  const descId = nextId('chart-desc');
  const low = trend.ref_low === null || trend.ref_low === undefined ? null : Number(trend.ref_low);
  const high = trend.ref_high === null || trend.ref_high === undefined ? null : Number(trend.ref_high);

  const values = pts.map((p) => p.v);
  if (Number.isFinite(low)) values.push(low);
  if (Number.isFinite(high)) values.push(high);
  let yMin = Math.min(...values);
  let yMax = Math.max(...values);
  const pad = (yMax - yMin) * 0.12 || Math.abs(yMax) * 0.1 || 1;
  yMin -= pad;
  yMax += pad;
  if (yMin < 0 && Math.min(...values) >= 0) yMin = 0;
  const ticks = niceTicks(yMin, yMax, 4);
  yMin = Math.min(yMin, ticks[0]);
  yMax = Math.max(yMax, ticks[ticks.length - 1]);

  const tMin = Math.min(...pts.map((p) => p.t));
  const tMax = Math.max(...pts.map((p) => p.t));
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const x = (t, i) => M.left + (tMax === tMin
    ? (pts.length === 1 ? plotW / 2 : (plotW * i) / (pts.length - 1))
    : ((t - tMin) / (tMax - tMin)) * plotW);
  const y = (v) => M.top + plotH - ((v - yMin) / (yMax - yMin)) * plotH;
  const r2 = (n) => Math.round(n * 100) / 100;

  const svg = s('svg', {
    class: 'trend-chart', viewBox: `0 0 ${W} ${H}`, width: W, height: H,
    role: 'img', 'aria-labelledby': `${titleId} ${descId}`, focusable: 'false',
  });
  svg.appendChild(s('title', { id: titleId, text: `${trend.text || trend.code} over time` }));
  svg.appendChild(s('desc', { id: descId, text: describeTrend(trend) }));

  // reference range band
  if (Number.isFinite(low) || Number.isFinite(high)) {
    const top = y(Number.isFinite(high) ? Math.min(high, yMax) : yMax);
    const bottom = y(Number.isFinite(low) ? Math.max(low, yMin) : yMin);
    svg.appendChild(s('rect', {
      class: 'ref-band', x: M.left, y: r2(top), width: plotW, height: r2(Math.max(0, bottom - top)),
    }));
  }

  // grid and y labels
  for (const tv of ticks) {
    if (tv < yMin || tv > yMax) continue;
    const ty = r2(y(tv));
    svg.appendChild(s('line', { class: 'grid', x1: M.left, x2: M.left + plotW, y1: ty, y2: ty }));
    svg.appendChild(s('text', { class: 'axis-label', x: M.left - 8, y: ty, 'text-anchor': 'end', 'dominant-baseline': 'middle', text: fmtNumber(tv) }));
  }
  svg.appendChild(s('line', { class: 'axis', x1: M.left, x2: M.left + plotW, y1: M.top + plotH, y2: M.top + plotH }));
  svg.appendChild(s('line', { class: 'axis', x1: M.left, x2: M.left, y1: M.top, y2: M.top + plotH }));

  // x labels: first and last date (and the middle one when there is room)
  const xLabels = [[0, 'start'], [pts.length - 1, 'end']];
  if (pts.length > 4) xLabels.push([Math.floor((pts.length - 1) / 2), 'middle']);
  const seen = new Set();
  for (const [i, anchor] of xLabels) {
    if (seen.has(i)) continue;
    seen.add(i);
    svg.appendChild(s('text', { class: 'axis-label', x: r2(x(pts[i].t, i)), y: H - 10, 'text-anchor': pts.length === 1 ? 'middle' : anchor, text: fmtMonth(pts[i].t) }));
  }
  if (trend.unit) {
    svg.appendChild(s('text', { class: 'axis-unit', x: 2, y: 12, text: fmtUnit(trend.unit) }));
  }

  // the line and its points
  if (pts.length > 1) {
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${r2(x(p.t, i))} ${r2(y(p.v))}`).join(' ');
    svg.appendChild(s('path', { class: 'trend-line', d }));
  }
  pts.forEach((p, i) => {
    const f = labFlag(null, p.v, low, high);
    const key = f && f.key !== 'normal' ? f.key : 'normal';
    svg.appendChild(s('circle', {
      class: `trend-point is-${key}`, cx: r2(x(p.t, i)), cy: r2(y(p.v)), r: key === 'normal' ? 3.5 : 4.5,
    }, s('title', { text: `${fmtDate(p.date)}: ${fmtValue(p.v, trend.unit)}${f && f.key !== 'normal' ? ` (${f.label.toLowerCase()})` : ''}` })));
  });
  return svg;
}

// The chart's numbers as a table: the text alternative that works for every reader.
export function trendTable(trend) {
  const low = trend.ref_low;
  const high = trend.ref_high;
  const rows = (trend.points || []).slice().reverse().map((p) => {
    const f = labFlag(null, p.value, low, high);
    return h('tr', null,
      h('th', { scope: 'row' }, fmtDate(p.date)),
      h('td', { class: 'num' }, fmtValue(p.value, trend.unit)),
      h('td', null, f ? h('span', { class: `flag flag-${f.key}` }, f.label) : ''));
  });
  return h('table', { class: 'data-table compact' },
    h('caption', null, `${trend.text || trend.code} results, newest first`),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Date'),
      h('th', { scope: 'col' }, 'Result'),
      h('th', { scope: 'col' }, 'Compared with range'))),
    h('tbody', null, rows));
}
