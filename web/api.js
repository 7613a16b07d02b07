// api.js - the one place the app talks to the server.
//
// The access token lives only in this module's memory. The refresh token is an
// HttpOnly, SameSite=Strict cookie the server sets on /api/auth/session; this code
// never sees it. A 401 from an API call is answered by one refresh through the
// cookie and a retry; concurrent refreshes share one request (refresh tokens
// rotate: each works once). See docs/web.md.

const SESSION = '/api/auth/session';
const CSRF = { 'X-NovaDraw-Session': '1' };
// Not a secret: only whether this browser has a session cookie worth trying, so a
// signed-out visit does not start with a refused request.
const HINT = 'novadraw.session';
const hint = {
  get() { try { return localStorage.getItem(HINT) === '1'; } catch { return true; } },
  set(on) { try { if (on) localStorage.setItem(HINT, '1'); else localStorage.removeItem(HINT); } catch { /* private mode */ } },
};

let access = null; // { token, user_id, email, expires_at }
let refreshing = null;
let onSignedOut = () => {};

export class ApiError extends Error {
  constructor(status, body, fallback) {
    super(describe(status, body, fallback));
    this.status = status;
    this.body = body;
  }
}

// An API error in words: its detail, a 422 list as "field: message", the heard
// words of a refused voice prompt.
export function describe(status, body, fallback) {
  const d = body && body.detail;
  let text;
  if (typeof d === 'string') {
    text = d;
  } else if (Array.isArray(d)) {
    text = d.map((e) => {
      const loc = Array.isArray(e.loc) ? e.loc.filter((x) => x !== 'body' && x !== 'query') : [];
      return (loc.length ? loc.join('.') + ': ' : '') + (e.msg || 'invalid');
    }).join('; ');
  } else if (status === 413) {
    text = 'That file is too large.';
  } else if (status === 0) {
    text = 'Could not reach the server. Check your connection and try again.';
  } else {
    text = fallback || `The server answered ${status}.`;
  }
  if (body && typeof body.transcription === 'string') {
    text += body.transcription ? ` (heard: “${body.transcription}”)` : ' (heard nothing)';
  }
  if (status === 422 && /understand|vocabulary|recogni/i.test(text) && !/try/i.test(text)) {
    text += ' Try words like “colorful”, “black and white”, “sepia”, “blur” or “make it pop”.';
  }
  return text;
}

export function setSignedOutHandler(fn) { onSignedOut = fn; }
export function currentUser() { return access && { user_id: access.user_id, email: access.email }; }

function remember(answer) {
  hint.set(true);
  access = {
    token: answer.access_token,
    user_id: answer.user_id,
    email: answer.email,
    expires_at: Date.now() + (answer.expires_in - 30) * 1000,
  };
  return currentUser();
}

async function readBody(r) {
  const type = r.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try { return await r.json(); } catch { return null; }
  }
  return null;
}

async function post(path, json, headers = {}) {
  let r;
  try {
    r = await fetch(path, {
      method: 'POST',
      headers: { ...CSRF, ...headers, ...(json ? { 'Content-Type': 'application/json' } : {}) },
      body: json ? JSON.stringify(json) : undefined,
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, null);
  }
  const body = await readBody(r);
  if (!r.ok) throw new ApiError(r.status, body);
  return body;
}

export async function signIn(email, password) {
  return remember(await post(SESSION, { email, password }));
}

export async function register(email, password) {
  // registration answers tokens too; the session is then made by signing in, so the
  // refresh token only ever lives in the cookie
  let r;
  try {
    r = await fetch('/api/auth/register', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
  } catch {
    throw new ApiError(0, null);
  }
  const body = await readBody(r);
  if (!r.ok) throw new ApiError(r.status, body);
  return signIn(email, password);
}

// A new access token from the cookie; null when there is no session.
export function refresh() {
  if (!refreshing) {
    if (!hint.get()) return Promise.resolve(null);
    refreshing = post(SESSION + '/refresh')
      .then(remember)
      .catch((e) => {
        if (e.status === 401 || e.status === 403) {
          access = null;
          hint.set(false);
          return null;
        }
        throw e;
      })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

export async function signOut() {
  try {
    await fetch(SESSION, { method: 'DELETE', headers: CSRF, credentials: 'same-origin' });
  } finally {
    access = null;
    hint.set(false);
  }
}

async function token() {
  if (access && Date.now() < access.expires_at) return access.token;
  const u = await refresh();
  if (!u) {
    onSignedOut();
    throw new ApiError(401, { detail: 'Please sign in again.' });
  }
  return access.token;
}

// fetch() on the API with the bearer token; one refresh and retry on a 401.
export async function apiFetch(path, init = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = { ...(init.headers || {}), Authorization: 'Bearer ' + (await token()) };
    let r;
    try {
      r = await fetch(path, { ...init, headers });
    } catch {
      throw new ApiError(0, null);
    }
    if (r.status === 401 && attempt === 0) {
      access = null;
      continue;
    }
    if (r.status === 401) onSignedOut();
    return r;
  }
}

// JSON in, JSON out; throws ApiError with the API's words.
export async function api(path, { method = 'GET', json, signal } = {}) {
  const init = { method, signal, headers: {} };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  const r = await apiFetch(path, init);
  const body = await readBody(r);
  if (!r.ok) throw new ApiError(r.status, body);
  return body;
}

// A multipart upload with progress: onProgress(fraction) while the body is sent,
// onProgress(null) once it is all sent and the server is working.
export async function upload(path, form, onProgress) {
  for (let attempt = 0; ; attempt++) {
    const bearer = await token();
    const { status, body } = await new Promise((resolve) => {
      const x = new XMLHttpRequest();
      x.open('POST', path);
      x.setRequestHeader('Authorization', 'Bearer ' + bearer);
      x.responseType = 'text';
      x.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
      x.upload.onload = () => onProgress(null);
      x.onload = () => {
        let b = null;
        try { b = JSON.parse(x.responseText); } catch { /* not JSON */ }
        resolve({ status: x.status, body: b });
      };
      x.onerror = () => resolve({ status: 0, body: null });
      x.send(form);
    });
    if (status === 401 && attempt === 0) {
      access = null;
      continue;
    }
    if (status < 200 || status >= 300) throw new ApiError(status, body);
    return body;
  }
}

// Saves an authenticated download under its server-given name.
export async function download(path, fallbackName) {
  const r = await apiFetch(path);
  if (!r.ok) throw new ApiError(r.status, await readBody(r));
  const cd = r.headers.get('Content-Disposition') || '';
  const m = /filename="([^"]+)"/.exec(cd);
  const blob = await r.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = m ? m[1] : fallbackName;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// The session, asked for as soon as this module runs (before the rest of the app is
// evaluated): a reload's first request.
export const session = refresh();
