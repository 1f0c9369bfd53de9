// @ts-check
/**
 * DOM helpers for the page. Elements are built with textContent only, so a memory's text is never parsed as
 * HTML; inline styles and handlers are refused outright, as the page's CSP would block them anyway.
 */

/** @typedef {Node | string | null | undefined | false} Child */

/**
 * @param {string} tag
 * @param {Record<string, string | number | boolean | undefined>} [attributes]
 * @param {...Child} children
 * @returns {HTMLElement}
 */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'style' || name.startsWith('on')) throw new TypeError(`no inline ${name} on the page`);
    if (value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

/**
 * The element with this id; a missing one is a bug of the page, reported at once.
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
export function byId(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return /** @type {T} */ (found);
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/**
 * A <time> for an RFC 3339 instant, in the reader's own zone and words.
 * @param {string} instant
 */
export function timeElement(instant) {
  const moment = new Date(instant);
  const text = Number.isNaN(moment.getTime()) ? instant : dateTime.format(moment);
  return el('time', { datetime: instant }, text);
}

/** @param {string} instant */
export function formatInstant(instant) {
  const moment = new Date(instant);
  return Number.isNaN(moment.getTime()) ? instant : dateTime.format(moment);
}

/**
 * Say something in the page's one live region; a button may follow the sentence (after a 401: set the key).
 * @param {string} sentence
 * @param {{ kind?: 'info' | 'error', action?: { label: string, run: () => void } }} [options]
 */
export function announce(sentence, { kind = 'info', action } = {}) {
  const region = byId('messages');
  const line = el('p', { class: kind }, sentence);
  if (action) {
    const button = el('button', { type: 'button' }, action.label);
    button.addEventListener('click', () => {
      clearMessages();
      action.run();
    });
    line.append(' ', button);
  }
  region.replaceChildren(line);
}

export function clearMessages() {
  byId('messages').replaceChildren();
}

/**
 * Run a form's or button's request once at a time: Enter pressed twice sends it once. Controls stay enabled, so
 * the keyboard focus stays where it was.
 * @param {HTMLElement} target
 * @param {() => Promise<void>} work
 */
export async function whileBusy(target, work) {
  if (target.getAttribute('aria-busy') === 'true') return;
  target.setAttribute('aria-busy', 'true');
  try {
    await work();
  } finally {
    target.removeAttribute('aria-busy');
  }
}
