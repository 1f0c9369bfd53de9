// @ts-check
/**
 * The page's start and its views. Until this device has a key only the setup view is shown; after it, the
 * location's fragment chooses the view (`#memories`, `#search`, `#edit/<id>`...), so Back and Forward work and
 * every view can be bookmarked. The fragment never holds a key.
 */

import { announce, byId, clearMessages } from './dom.js';
import { loadDevice } from './device.js';
import { setupEditor } from './editor.js';
import { setupMemories } from './memories.js';
import { connect } from './memo-api.js';
import { needsKey, sentenceFor } from './messages.js';
import { setupOthers } from './others.js';
import { setupQuestions } from './questions.js';
import { setupKeyForm } from './setup.js';

/** @typedef {import('./memo-api.js').MemoApi} MemoApi */
/** @typedef {import('./cards.js').Memory} Memory */

const VIEWS = ['loading', 'setup', 'memories', 'editor', 'search', 'ask', 'memory', 'whatsapp', 'export', 'device'];
const NAV_VIEW = /** @type {Record<string, string>} */ ({ memory: 'memories' });

/** What every view shares: the signed API, how to report a failure, how to move between views. */
export class Page {
  constructor() {
    /** @type {MemoApi | undefined} */
    this.api = undefined;
    /** @type {string | undefined} */
    this.keyId = undefined;
    /** @type {(() => void)[]} */
    this.onForget = [];
    /** @type {(() => void)[]} */
    this.onMemoriesChanged = [];
    /** @type {Record<string, (id?: string) => Promise<void> | void>} */
    this.views = {};
    this.keepMessages = false; // set by go(): what the page just said survives the move it made
    this.focusViews = true;
    /** Open the editor on a memory as it was shown (its version is what If-Match sends). */
    this.edit = (/** @type {Memory} */ memory) => { void memory; };
    /** Ask, then delete. */
    this.confirmDelete = (/** @type {Memory} */ memory) => { void memory; };
  }

  /** @returns {MemoApi} */
  get signed() {
    if (!this.api) throw new Error('no key on this device yet');
    return this.api;
  }

  /** @param {{ keyId: string, key: CryptoKey }} device */
  useDevice(device) {
    this.api = connect(device);
    this.keyId = device.keyId;
    byId('nav').hidden = false;
  }

  /** Forget the key in memory and every memory shown, so nothing of them stays on the screen. */
  dropDevice() {
    this.api = undefined;
    this.keyId = undefined;
    byId('nav').hidden = true;
    for (const forget of this.onForget) forget();
  }

  memoriesChanged() {
    for (const changed of this.onMemoriesChanged) changed();
  }

  /** @param {unknown} error */
  report(error) {
    const fromMemo = typeof (/** @type {{ code?: unknown }} */ (error ?? {})).code === 'string';
    if (!fromMemo && !(error instanceof TypeError)) console.error(error); // a fault of the page itself
    announce(sentenceFor(error), {
      kind: 'error',
      action: needsKey(error) ? { label: 'Set the key again', run: () => this.show('setup') } : undefined,
    });
  }

  /**
   * Show one view, mark its link as the current one, name the window after it, and move the focus to its heading.
   * @param {string} view
   * @param {{ focus?: boolean, link?: string }} [options] `link`: the navigation's view to mark, when not `view`
   */
  show(view, { focus = this.focusViews, link } = {}) {
    for (const name of VIEWS) byId(`view-${name}`).hidden = name !== view;
    const current = link ?? NAV_VIEW[view] ?? view;
    for (const anchor of document.querySelectorAll('#nav a')) {
      if (/** @type {HTMLElement} */ (anchor).dataset.view === current) anchor.setAttribute('aria-current', 'page');
      else anchor.removeAttribute('aria-current');
    }
    const heading = document.querySelector(`#view-${view} h2`);
    if (heading instanceof HTMLElement) {
      document.title = `${heading.textContent} · Memo`;
      if (focus) {
        heading.focus({ preventScroll: true }); // a scroll to the heading would hide the navigation at 360 px
        window.scrollTo(0, 0);
      }
    }
  }

  /** After what had the focus went away (a deleted memory's button), put it on the view's heading. */
  refocus() {
    const active = document.activeElement;
    if (active && active !== document.body && active.isConnected) return;
    const heading = document.querySelector('.view:not([hidden]) h2');
    if (heading instanceof HTMLElement) heading.focus();
  }

  /**
   * Move to a view from the page's own code, keeping the sentence just announced (a link the person follows
   * clears it).
   * @param {string} fragment such as "#memories"
   */
  go(fragment) {
    if (location.hash === fragment) {
      void this.route();
      return;
    }
    this.keepMessages = true;
    location.hash = fragment;
  }

  /** @param {{ focus?: boolean }} [options] the first view of a load leaves the focus where browsers put it */
  async route({ focus = true } = {}) {
    if (!this.api) {
      this.show('setup', { focus });
      return;
    }
    const [name, id] = location.hash.replace(/^#/, '').split('/', 2);
    const view = Object.hasOwn(this.views, name) ? this.views[name] : this.views.memories;
    this.focusViews = focus;
    try {
      await view(id ? decodedId(id) : undefined);
    } finally {
      this.focusViews = true;
    }
  }
}

/** An id from the fragment; a malformed escape is no id. @param {string} raw */
function decodedId(raw) {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

async function start() {
  const page = new Page();
  const memories = setupMemories(page);
  const editor = setupEditor(page);
  const questions = setupQuestions(page);
  const others = setupOthers(page);
  setupKeyForm(page);
  page.edit = (memory) => editor.startEdit(memory);
  page.confirmDelete = (memory) => void editor.confirmDelete(memory);
  page.views = {
    memories: () => memories.open(),
    add: () => editor.openAdd(),
    edit: (id) => (id ? editor.openEdit(id) : page.go('#memories')),
    search: () => page.show('search'),
    ask: () => page.show('ask'),
    memory: (id) => (id ? questions.openMemory(id) : page.go('#memories')),
    whatsapp: () => others.openWhatsApp(),
    export: () => page.show('export'),
    device: () => others.openDevice(),
  };
  byId('nav').addEventListener('click', (event) => {
    const link = /** @type {Element} */ (event.target).closest('a');
    if (link && link.hash === location.hash) { // no hashchange comes: the view is shown again all the same
      event.preventDefault();
      clearMessages();
      void page.route();
    }
  });
  document.querySelector('.skip')?.addEventListener('click', (event) => {
    event.preventDefault(); // not a view: the fragment stays as it is
    byId('main').focus();
  });
  window.addEventListener('hashchange', () => {
    if (!page.keepMessages) clearMessages();
    page.keepMessages = false;
    void page.route();
  });
  try {
    const device = await loadDevice();
    if (device) page.useDevice(device);
  } catch (error) {
    announce(`This browser would not open its storage for the key (${String(error)}); a private window may ` +
      'not allow it.', { kind: 'error' });
  }
  await page.route({ focus: false });
}

void start();
