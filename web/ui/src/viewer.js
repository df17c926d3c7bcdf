// The staff document viewer: pdf.js draws a PDF's pages on a canvas, reading the document from
// the content route with Range requests (the first page shows before the whole file arrives).
// Nothing in the PDF runs: no scripting, no eval, no annotations or forms, and the worker is
// served by us (CSP: default-src 'self').
import { GlobalWorkerOptions, getDocument } from 'pdfjs-dist';

GlobalWorkerOptions.workerSrc = '/static/dist/pdf.worker.js';

function start(root) {
  const canvas = document.getElementById('pdf-canvas');
  const status = document.getElementById('pdf-status');
  const prev = document.getElementById('pdf-prev');
  const next = document.getElementById('pdf-next');
  const tpl = document.getElementById('pdf-messages');
  const msg = tpl && tpl.content ? tpl.content.querySelector('p') : null;
  const pageText = (msg && msg.getAttribute('data-page')) || 'Page {page} of {pages}';
  const errorText = (msg && msg.getAttribute('data-error')) || 'The document could not be shown.';

  let doc = null;
  let current = 1;
  let rendering = null;

  const show = async (n) => {
    if (!doc || n < 1 || n > doc.numPages) return;
    current = n;
    if (rendering) rendering.cancel();
    const page = await doc.getPage(n);
    const width = Math.max(300, Math.min(root.clientWidth || 800, 1200));
    const base = page.getViewport({ scale: 1 });
    const scale = (width / base.width) * (window.devicePixelRatio || 1);
    const viewport = page.getViewport({ scale });
    canvas.width = Math.floor(viewport.width);
    canvas.height = Math.floor(viewport.height);
    rendering = page.render({ canvas, canvasContext: canvas.getContext('2d'), viewport, annotationMode: 0 });
    try {
      await rendering.promise;
    } catch (e) {
      if (e && e.name === 'RenderingCancelledException') return;
      throw e;
    }
    rendering = null;
    status.textContent = pageText.replace('{page}', String(n)).replace('{pages}', String(doc.numPages));
    prev.disabled = n <= 1;
    next.disabled = n >= doc.numPages;
    if (!root.dataset.firstPageMs) {
      // For the tests and the benchmark: milliseconds from navigation to the first page drawn.
      root.dataset.firstPageMs = String(Math.round(performance.now()));
      root.dispatchEvent(new CustomEvent('so-pdf-drawn', { bubbles: true }));
    }
  };

  prev.addEventListener('click', () => show(current - 1));
  next.addEventListener('click', () => show(current + 1));
  document.addEventListener('keydown', (e) => {
    if (e.target && /INPUT|TEXTAREA|SELECT/.test(e.target.tagName)) return;
    if (e.key === 'PageDown') show(current + 1);
    if (e.key === 'PageUp') show(current - 1);
  });

  getDocument({
    url: root.dataset.src,
    withCredentials: true,
    isEvalSupported: false, // no new Function: the CSP forbids it, and fonts draw without it
    disableAutoFetch: true, // only the ranges the shown pages need
    rangeChunkSize: 256 * 1024,
    enableXfa: false,
    stopAtErrors: false,
  }).promise.then(
    (d) => {
      doc = d;
      return show(1);
    },
  ).catch(() => {
    status.textContent = errorText;
    root.dataset.error = '1';
  });
}

const root = document.getElementById('pdf-viewer');
if (root) start(root);
