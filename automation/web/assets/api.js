// The console's only way to the server: the API on the same origin, with the
// session cookie the browser adds by itself (HttpOnly: no script reads it)
// and, on every request that changes something, the session's CSRF token.
// The token is kept in this module's memory for the page's lifetime, never
// in storage.

let csrfToken = '';

export function setCSRFToken(token) {
  csrfToken = token || '';
}

// APIError is an answer other than 2xx: its status and the API's error body
// (error, and for bad input field and reason).
export class APIError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }

  get field() { return this.body.field || ''; }

  get reason() { return this.body.reason || ''; }
}

// NetworkError is a request that got no answer.
export class NetworkError extends Error {}

// api sends a request and returns the decoded JSON answer (null when empty).
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
    });
  } catch (err) {
    throw new NetworkError(String(err));
  }
  const raw = await response.text();
  let data = null;
  if (raw) {
    try {
      data = JSON.parse(raw);
    } catch {
      data = null;
    }
  }
  if (!response.ok) throw new APIError(response.status, data);
  return data;
}

// signInPath is the sign-in page that returns to the current page afterwards.
export function signInPath() {
  const here = window.location.pathname + window.location.search;
  return `/signin?next=${encodeURIComponent(here)}`;
}

// safeNext is a sign-in's destination: a path on this site only.
export function safeNext(next) {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  return next;
}
