// api — the only way the UI talks to the server: same-origin JSON over fetch, the session cookie sent
// by the browser, and the session's CSRF token (held in memory only) on every state-changing call.

const BASE = '/api/v1';
let csrfToken = null;
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, code, message, retryAfterS) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || 'error';
    this.retryAfterS = retryAfterS;
  }
}

export function setCsrf(token) {
  csrfToken = typeof token === 'string' && token ? token : null;
}

// Called after every successful request that the server counts as activity (everything except
// GET /auth/session, which only peeks), so the idle monitor can move its deadline.
export function onActivity(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function retryAfter(res) {
  const v = res.headers.get('Retry-After');
  if (!v) return undefined;
  const n = Number.parseInt(v, 10);
  if (Number.isFinite(n) && n >= 0) return n;
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, Math.round((t - Date.now()) / 1000)) : undefined;
}

export async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', redirect: 'error' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  return send(method, path, init);
}

// Uploads one file as the raw request body (streamed and checked by the server: type sniffed from
// the content, malware scan); its name travels percent-encoded in a header, never in the URL.
export async function upload(path, file) {
  const headers = { Accept: 'application/json', 'Content-Type': file.type || 'application/octet-stream',
    'X-File-Name': encodeURIComponent(file.name || 'file') };
  return send('POST', path, { method: 'POST', headers, body: file, credentials: 'same-origin', cache: 'no-store', redirect: 'error' });
}

async function send(method, path, init) {
  const headers = init.headers;
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;

  let res;
  try {
    res = await fetch(BASE + path, init);
  } catch {
    throw new ApiError(0, 'network', 'The portal could not be reached. Check your connection and try again.');
  }
  let data = null;
  if (res.status !== 204) {
    const type = res.headers.get('Content-Type') || '';
    if (type.includes('application/json')) {
      try { data = await res.json(); } catch { data = null; }
    }
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    throw new ApiError(res.status, err.code, err.message, retryAfter(res));
  }
  if (data && typeof data.csrf === 'string') setCsrf(data.csrf);
  if (!(method === 'GET' && path === '/auth/session')) {
    for (const fn of listeners) fn(path);
  }
  return data;
}

export const api = {
  session: () => request('GET', '/auth/session'),
  keepalive: () => request('POST', '/auth/keepalive'),
  login: (username, password) => request('POST', '/auth/login', { username, password }),
  enrolStart: () => request('POST', '/auth/mfa/enrol/start'),
  enrolConfirm: (code) => request('POST', '/auth/mfa/enrol/confirm', { code }),
  verify: (code) => request('POST', '/auth/mfa/verify', { code }),
  recover: (recoveryCode) => request('POST', '/auth/mfa/recover', { recovery_code: recoveryCode }),
  logout: () => request('POST', '/auth/logout'),
  me: () => request('GET', '/me'),
  summary: () => request('GET', '/me/summary'),
};
