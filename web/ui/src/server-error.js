// Turns a tus-js-client error into words for the user, from the server's response body:
// text "ERR_CODE: message" or JSON {"error": "...", "message": "..."}.
const MAX = 400;

// A refusal's code and message from the body: tusd's "code: message" text (our codes are
// snake_case, tusd's own ERR_UPPER_CASE) or the API's JSON.
export function refusalFromBody(body) {
  const text = (body || '').trim();
  if (!text || text.startsWith('<')) return { code: '', message: '' }; // empty, or a proxy's HTML page
  if (text.startsWith('{')) {
    try {
      const j = JSON.parse(text);
      const code = j && typeof j.error === 'string' ? j.error.trim() : '';
      const message = j && typeof j.message === 'string' && j.message.trim() ? j.message.trim() : code;
      return { code, message: clip(message) };
    } catch {
      // not JSON after all: fall through to text
    }
  }
  const m = /^([A-Z][A-Z0-9_]*|[a-z][a-z0-9]*(?:_[a-z0-9]+)*):\s*([\s\S]+)$/.exec(text);
  return m ? { code: m[1], message: clip(m[2].trim()) } : { code: '', message: clip(text) };
}

export function messageFromBody(body) {
  return refusalFromBody(body).message;
}

function clip(s) {
  return s.length > MAX ? s.slice(0, MAX) + '…' : s;
}

// humanError returns the message to show for err (a tus DetailedError or Uppy NetworkError).
export function humanError(err, msgs) {
  const res = err && (err.originalResponse || (err.cause && err.cause.originalResponse));
  let status = 0;
  let body = '';
  if (res) {
    try {
      status = res.getStatus();
      body = res.getBody();
    } catch {
      // the response is not readable: treat as a network error
    }
  }
  if (status >= 400 && status < 500) {
    const { code, message } = refusalFromBody(body);
    return (msgs.reasons && msgs.reasons[code]) || message || msgs.errorRejected;
  }
  if (status >= 500) return msgs.errorServer; // no server internals on screen
  return msgs.errorNetwork;
}
