// Turns a tus-js-client error into words for the user, from the server's response body:
// text "ERR_CODE: message" or JSON {"error": "...", "message": "..."}.
const MAX = 400;

export function messageFromBody(body) {
  const text = (body || '').trim();
  if (!text || text.startsWith('<')) return ''; // empty, or an HTML error page of a proxy
  if (text.startsWith('{')) {
    try {
      const j = JSON.parse(text);
      if (j && typeof j.message === 'string' && j.message.trim()) return clip(j.message.trim());
      if (j && typeof j.error === 'string' && j.error.trim()) return clip(j.error.trim());
    } catch {
      // not JSON after all: fall through to text
    }
  }
  const m = /^[A-Z][A-Z0-9_]*:\s*([\s\S]+)$/.exec(text);
  return clip(m ? m[1].trim() : text);
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
  if (status >= 400 && status < 500) return messageFromBody(body) || msgs.errorRejected;
  if (status >= 500) return msgs.errorServer; // no server internals on screen
  return msgs.errorNetwork;
}
