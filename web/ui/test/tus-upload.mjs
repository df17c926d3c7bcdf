// Uploads deterministic bytes with the real tus-js-client (Node build) and prints JSON lines:
//   {"event":"start","sha256":...}  {"event":"progress","sent":N}  {"event":"done","url":...}
//   {"event":"error","message":...}
// The bytes are generated in memory from a seed (no plaintext file is written). Driven by Go tests
// and by the benchmark; configured by environment variables:
//   TUS_ENDPOINT, TUS_TOKEN, TUS_SIZE, TUS_CHUNK_SIZE, TUS_SEED, TUS_META (JSON object), TUS_PREFIX (hex),
//   TUS_MARKER (written in the middle)
import { createHash } from 'node:crypto';
import * as tus from 'tus-js-client';

const env = (k, d) => process.env[k] ?? d;
const size = Number(env('TUS_SIZE', '0'));
const chunkSize = Number(env('TUS_CHUNK_SIZE', String(5 * 1024 * 1024)));
const seed = Number(env('TUS_SEED', '1')) >>> 0;
const meta = JSON.parse(env('TUS_META', '{}'));
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// xorshift32 stream: reproducible in Go from the same seed.
function generate(n, s) {
  const buf = Buffer.allocUnsafe(n);
  let x = s || 1;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    buf.writeUInt32LE(x, i);
  }
  if (i < n) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    for (let j = 0; i < n; i++, j++) buf[i] = (x >>> (8 * j)) & 0xff;
  }
  return buf;
}

const data = generate(size, seed);
// TUS_PREFIX (hex) is written at offset 0, e.g. a DICOM preamble so the content checks accept it.
const prefix = Buffer.from(env('TUS_PREFIX', ''), 'hex');
prefix.copy(data, 0, 0, Math.min(prefix.length, size));
const marker = env('TUS_MARKER', '');
if (marker && size >= marker.length) data.write(marker, Math.floor(size / 2), 'latin1');
out({ event: 'start', sha256: createHash('sha256').update(data).digest('hex'), size });

let lastReport = 0;
const upload = new tus.Upload(data, {
  endpoint: env('TUS_ENDPOINT'),
  uploadUrl: env('TUS_UPLOAD_URL') || null,
  chunkSize,
  retryDelays: [0, 200, 500, 1000, 1000, 2000, 2000, 3000, 3000, 5000, 5000, 5000],
  headers: { Authorization: 'Bearer ' + env('TUS_TOKEN', '') },
  metadata: meta,
  storeFingerprintForResuming: false,
  onUploadUrlAvailable() { out({ event: 'created', url: upload.url }); },
  onProgress(sent) {
    if (sent - lastReport >= chunkSize || sent === size) { lastReport = sent; out({ event: 'progress', sent }); }
  },
  onShouldRetry(err, attempt) {
    const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
    out({ event: 'retry', attempt, status });
    return status === 0 || status === 423 || status >= 500;
  },
  onError(err) {
    const res = err.originalResponse;
    out({ event: 'error', message: String(err.message).split('\n')[0], status: res ? res.getStatus() : 0, body: res ? res.getBody() : '' });
    process.exit(1);
  },
  onSuccess() { out({ event: 'done', url: upload.url }); },
});
upload.start();
