// fingerprint is the lower-case hex SHA-256 of the first min(size, 1 MiB) bytes of a Blob.
// crypto.subtle needs a secure context (https, or http://localhost).
export const FINGERPRINT_BYTES = 1048576;

export async function fingerprint(blob) {
  const n = Math.min(blob.size, FINGERPRINT_BYTES);
  const buf = await blob.slice(0, n).arrayBuffer();
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}

// limiter runs at most n async tasks at once (hundreds of CD files are added together).
export function limiter(n) {
  let active = 0;
  const waiting = [];
  const next = () => {
    if (active >= n || waiting.length === 0) return;
    active++;
    const { task, resolve, reject } = waiting.shift();
    Promise.resolve()
      .then(task)
      .then(resolve, reject)
      .finally(() => {
        active--;
        next();
      });
  };
  return (task) =>
    new Promise((resolve, reject) => {
      waiting.push({ task, resolve, reject });
      next();
    });
}
