// Server-translated strings, read from data-* attributes of the first <p> inside
// <template id="upload-messages">. English fallbacks keep the page usable if one is missing.
const defaults = {
  resumeIntro: 'Unfinished uploads: choose the same files again to continue.',
  resumeItem: '{name} ({kind}): {percent}% stored — choose it again to continue',
  resumeMatched: '{name}: continuing from {percent}%',
  resumeDone: '{name}: finished',
  resumeLoadFailed: 'The list of unfinished uploads could not be loaded.',
  kindRequired: 'Choose the kind of document before adding files.',
  preparing: 'Checking files…',
  errorRead: 'This file could not be read. Choose it again.',
  errorRejected: 'The server refused this file.',
  errorServer: 'The server could not store this file. Try again later.',
  errorNetwork: 'The connection was lost. Check your network and press Retry.',
};

// Attribute names are the kebab-case form of the keys: data-resume-intro, data-resume-item, ...
export const attributeNames = Object.fromEntries(
  Object.keys(defaults).map((k) => [k, 'data-' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())]),
);

export function readMessages(doc) {
  const tpl = doc.getElementById('upload-messages');
  const p = tpl && tpl.content ? tpl.content.querySelector('p') : null;
  const out = {};
  for (const [key, fallback] of Object.entries(defaults)) {
    const v = p ? p.getAttribute(attributeNames[key]) : null;
    out[key] = v != null && v !== '' ? v : fallback;
  }
  // The server's refusals in the page's language, by code: data-reasons='{"file_too_large": "…"}'.
  out.reasons = {};
  try {
    const r = JSON.parse((p && p.getAttribute('data-reasons')) || '{}');
    if (r && typeof r === 'object') out.reasons = r;
  } catch {
    // no translations: the server's own words are shown
  }
  return out;
}

// format replaces {placeholders}; unknown ones are left as they are.
export function format(template, values) {
  return template.replace(/\{(\w+)\}/g, (m, k) => (Object.hasOwn(values, k) ? String(values[k]) : m));
}
