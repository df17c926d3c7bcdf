// The server's list of this case's unfinished uploads (GET data-unfinished), shown in
// #upload-resume and matched against files the user adds again. Nothing is kept in the
// browser's storage: the list lives in memory for the life of the page.
import { format } from './messages.js';

export function normPath(p) {
  return typeof p === 'string' ? p.replace(/^\/+/, '') : '';
}

function key(kind, filename, size, relativePath, fingerprint) {
  return JSON.stringify([kind, filename, Number(size), normPath(relativePath), fingerprint]);
}

export class UnfinishedUploads {
  constructor({ url, region, msgs, kindLabel }) {
    this.region = region;
    this.msgs = msgs;
    this.kindLabel = kindLabel;
    this.entries = []; // {upload, state: 'waiting'|'matched'|'done', fileID}
    this.loadFailed = false;
    this.ready = url ? this.#load(url) : Promise.resolve();
  }

  async #load(url) {
    try {
      const res = await fetch(url, {
        credentials: 'same-origin',
        cache: 'no-store',
        headers: { Accept: 'application/json' },
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const data = await res.json();
      const uploads = Array.isArray(data && data.uploads) ? data.uploads : [];
      this.entries = uploads
        .filter((u) => u && typeof u.url === 'string' && u.url)
        .map((u) => ({ upload: u, state: 'waiting', fileID: null }));
    } catch {
      this.loadFailed = true;
    }
    this.render();
  }

  // claim finds a waiting upload with the same kind, name, size, path and fingerprint and
  // reserves it for fileID; it returns the upload or null.
  claim(fileID, { kind, filename, size, relativePath, fingerprint }) {
    const k = key(kind, filename, size, relativePath, fingerprint);
    const e = this.entries.find(
      (x) =>
        x.state === 'waiting' &&
        key(x.upload.kind, x.upload.filename, x.upload.size, x.upload.relative_path, x.upload.fingerprint) === k,
    );
    if (!e) return null;
    e.state = 'matched';
    e.fileID = fileID;
    this.render();
    return e.upload;
  }

  release(fileID) {
    const e = this.entries.find((x) => x.fileID === fileID && x.state === 'matched');
    if (!e) return;
    e.state = 'waiting';
    e.fileID = null;
    this.render();
  }

  finished(fileID) {
    const e = this.entries.find((x) => x.fileID === fileID && x.state === 'matched');
    if (!e) return;
    e.state = 'done';
    this.render();
  }

  // render builds the list once; later calls only change the lines and the intro that
  // changed, so the polite live region announces just those.
  render() {
    const r = this.region;
    if (!r) return;
    const doc = r.ownerDocument;
    if (this.loadFailed) {
      const p = doc.createElement('p');
      p.textContent = this.msgs.resumeLoadFailed;
      r.replaceChildren(p);
      return;
    }
    if (this.entries.length === 0) {
      r.replaceChildren();
      return;
    }
    if (!this.list) {
      this.intro = doc.createElement('p');
      this.intro.textContent = this.msgs.resumeIntro;
      this.list = doc.createElement('ul');
      for (const e of this.entries) {
        e.li = doc.createElement('li');
        this.list.append(e.li);
      }
      r.replaceChildren(this.intro, this.list);
    }
    // The intro stays while something is left to resume; finished lines stay as "finished".
    this.intro.hidden = this.entries.every((e) => e.state === 'done');
    for (const e of this.entries) {
      const u = e.upload;
      const size = Number(u.size) || 0;
      const percent = size > 0 ? Math.min(100, Math.floor((Number(u.offset) * 100) / size)) : 0;
      const tpl =
        e.state === 'done' ? this.msgs.resumeDone : e.state === 'matched' ? this.msgs.resumeMatched : this.msgs.resumeItem;
      const text = format(tpl, {
        name: normPath(u.relative_path) || u.filename || '',
        percent,
        kind: this.kindLabel(u.kind),
      });
      if (e.li.textContent !== text) e.li.textContent = text;
      e.li.dataset.state = e.state;
    }
  }
}
