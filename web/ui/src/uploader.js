// The case upload page: Uppy Dashboard + tus, resuming the case's unfinished uploads from the
// server's list (never from browser storage). The page contract is in #uploader's data-*
// attributes; translated strings come from <template id="upload-messages"> (see messages.js).
import Uppy from '@uppy/core';
import Dashboard from '@uppy/dashboard';
import Tus from '@uppy/tus';
import en_US from '@uppy/locales/lib/en_US.js';
import it_IT from '@uppy/locales/lib/it_IT.js';
import es_ES from '@uppy/locales/lib/es_ES.js';
import '@uppy/core/css/style.min.css';
import '@uppy/dashboard/css/style.min.css';
import './uploader.css';

import { fingerprint, limiter } from './fingerprint.js';
import { readMessages } from './messages.js';
import { UnfinishedUploads, normPath } from './resume.js';
import { humanError } from './server-error.js';

const LOCALES = { en: en_US, it: it_IT, es: es_ES };
// The only tus metadata keys sent; relative_path is added per file when there is one.
const META_FIELDS = ['case_id', 'kind', 'filename', 'filetype', 'fingerprint'];
const MiB = 1024 * 1024;

// Nothing is stored in the browser: tus-js-client's default URL storage is localStorage.
const memoryOnlyUrlStorage = {
  findAllUploads: () => Promise.resolve([]),
  findUploadsByFingerprint: () => Promise.resolve([]),
  removeUpload: () => Promise.resolve(),
  addUpload: () => Promise.resolve(null),
};

function start(root) {
  const doc = root.ownerDocument;
  const msgs = readMessages(doc);
  const caseID = root.dataset.case || '';
  const kindSelect = doc.getElementById('upload-kind');
  const done = doc.getElementById('upload-done');

  const kindLabel = (value) => {
    const opt = kindSelect && Array.from(kindSelect.options).find((o) => o.value === value);
    return opt ? opt.textContent.trim() : value || '';
  };
  const unfinished = new UnfinishedUploads({
    url: root.dataset.unfinished,
    region: doc.getElementById('upload-resume'),
    msgs,
    kindLabel,
  });

  const uppy = new Uppy({
    autoProceed: false,
    locale: LOCALES[root.dataset.lang] || en_US,
    // Records the kind chosen at the moment the file is added; later changes of the select
    // leave files already added alone.
    onBeforeFileAdded(file, files) {
      if (Object.hasOwn(files, file.id)) return false; // Uppy's default duplicate check
      const kind = kindSelect ? kindSelect.value : '';
      if (!kind) {
        uppy.info(msgs.kindRequired, 'error', 5000);
        return false;
      }
      return {
        ...file,
        meta: {
          ...file.meta,
          case_id: caseID,
          kind,
          filename: file.name,
          filetype: file.type || 'application/octet-stream',
          relative_path: normPath(file.meta.relativePath || (file.data && file.data.webkitRelativePath)),
        },
      };
    },
  });

  uppy.use(Dashboard, {
    inline: true,
    target: '#uppy-dashboard',
    width: '100%',
    height: 420,
    fileManagerSelectionType: 'both', // files, or a whole folder (a CD: DICOMDIR + its files)
    proudlyDisplayPoweredByUppy: false,
    disableThumbnailGenerator: true, // no blob:/data: images under the CSP
    showLinkToFileUploadResult: false,
    hideProgressDetails: false, // overall progress with time left
  });

  uppy.use(Tus, {
    endpoint: root.dataset.endpoint,
    limit: 3,
    // 50 MiB PATCHes: a lost connection re-sends at most one chunk, and no proxy body-size
    // limit is ever hit; on a Blob slicing costs no memory.
    chunkSize: 50 * MiB,
    retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
    removeFingerprintOnSuccess: true,
    storeFingerprintForResuming: false,
    urlStorage: memoryOnlyUrlStorage,
    allowedMetaFields: META_FIELDS,
    withCredentials: false, // same origin: the session cookie goes anyway
    // Uppy's default onShouldRetry already stops on 4xx other than 409, 423 and 429.
    onError(err) {
      // Called before Uppy stores err.message on the file, so the file shows these words.
      err.message = humanError(err, msgs);
      err.details = undefined;
    },
  });

  // Fingerprints are computed as soon as files are added (to show a resume match at once)
  // and awaited by the preprocessor before any upload starts.
  const hashLimit = limiter(4);
  const prepared = new Map(); // file ID -> Promise<boolean>

  const prepare = (fileID) => {
    let p = prepared.get(fileID);
    if (p) return p;
    p = (async () => {
      const file = uppy.getFile(fileID);
      if (!file) return false;
      let fp;
      try {
        fp = await hashLimit(() => fingerprint(file.data));
      } catch {
        prepared.delete(fileID);
        if (uppy.getFile(fileID)) uppy.setFileState(fileID, { error: msgs.errorRead });
        return false;
      }
      await unfinished.ready;
      const cur = uppy.getFile(fileID);
      if (!cur) return false;
      const rel = cur.meta.relative_path;
      const fields = rel ? [...META_FIELDS, 'relative_path'] : META_FIELDS;
      const tus = { ...cur.tus, allowedMetaFields: fields };
      if (!tus.uploadUrl) {
        const match = unfinished.claim(fileID, {
          kind: cur.meta.kind,
          filename: cur.meta.filename,
          size: cur.size,
          relativePath: rel,
          fingerprint: fp,
        });
        // With uploadUrl set, tus-js-client sends HEAD and then PATCHes from the server's
        // offset; it never POSTs unless the server answers the HEAD with an error.
        if (match) tus.uploadUrl = match.url;
      }
      uppy.setFileMeta(fileID, { fingerprint: fp });
      uppy.setFileState(fileID, { tus });
      return true;
    })();
    prepared.set(fileID, p);
    return p;
  };

  uppy.on('file-added', (file) => {
    prepare(file.id);
  });
  uppy.on('file-removed', (file) => {
    prepared.delete(file.id);
    unfinished.release(file.id);
  });

  uppy.addPreProcessor(async (fileIDs) => {
    await Promise.all(
      fileIDs.map(async (id) => {
        const file = uppy.getFile(id);
        if (!file) return;
        uppy.emit('preprocess-progress', file, { mode: 'indeterminate', message: msgs.preparing });
        await prepare(id);
        const after = uppy.getFile(id);
        if (after) uppy.emit('preprocess-complete', after);
      }),
    );
  });

  // Refused files, in words, where everyone sees them (Uppy keeps a file's error in a tooltip).
  const refused = doc.getElementById('upload-refused');
  const refusals = new Map(); // file ID -> <li>
  const showRefusal = (file, message) => {
    if (!refused || !file) return;
    let li = refusals.get(file.id);
    if (!li) {
      li = doc.createElement('li');
      refusals.set(file.id, li);
      refused.querySelector('ul').append(li);
    }
    const name = file.meta.relative_path || file.name;
    li.textContent = `${name}: ${message}`;
    refused.hidden = false;
  };
  const clearRefusal = (file) => {
    const li = file && refusals.get(file.id);
    if (!li) return;
    li.remove();
    refusals.delete(file.id);
    if (refusals.size === 0) refused.hidden = true;
  };
  uppy.on('upload-error', (file, err) => showRefusal(file, err && err.message ? err.message : msgs.errorRejected));
  uppy.on('file-removed', clearRefusal);
  uppy.on('upload-retry', (file) => clearRefusal(typeof file === 'string' ? uppy.getFile(file) : file));

  uppy.on('upload-success', (file) => {
    clearRefusal(file);
    if (file) unfinished.finished(file.id);
  });

  uppy.on('complete', (result) => {
    const successful = (result && result.successful ? result.successful : []).length;
    const failed = (result && result.failed ? result.failed : []).length;
    if (successful > 0 && done) {
      done.hidden = false;
      const link = done.querySelector('a');
      if (link) link.focus();
    }
    root.dispatchEvent(new CustomEvent('so-upload-complete', { bubbles: true, detail: { successful, failed } }));
  });

  window.soUploader = { uppy };
}

function boot() {
  const root = document.getElementById('uploader');
  if (root) start(root);
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', boot, { once: true });
} else {
  boot();
}
