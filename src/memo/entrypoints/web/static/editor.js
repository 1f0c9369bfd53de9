// @ts-check
/**
 * Add, edit and delete. An edit sends `If-Match` with the version the person was shown; when the memory changed
 * elsewhere meanwhile (412 VERSION_CONFLICT) the saved version is fetched and offered beside the person's own
 * text, which is never thrown away. A new memory carries an Idempotency-Key that is kept only when no answer
 * came, so sending it again after a lost answer cannot make it twice.
 */

import { announce, byId, formatInstant, whileBusy } from './dom.js';
import { splitTags } from './memo-api.js';
import { sentenceFor } from './messages.js';

/** @typedef {import('./cards.js').Memory} Memory */

/** @param {import('./main.js').Page} page */
export function setupEditor(page) {
  const form = /** @type {HTMLFormElement} */ (byId('editor-form'));
  const title = byId('editor-title');
  const versionLine = byId('editor-version');
  const content = /** @type {HTMLTextAreaElement} */ (byId('editor-content'));
  const type = /** @type {HTMLSelectElement} */ (byId('editor-type'));
  const tags = /** @type {HTMLInputElement} */ (byId('editor-tags'));
  const cancel = /** @type {HTMLButtonElement} */ (byId('editor-cancel'));
  const conflict = byId('conflict');
  const conflictText = byId('conflict-text');
  const conflictContent = byId('conflict-content');
  const dialog = /** @type {HTMLDialogElement} */ (byId('confirm-delete'));
  const dialogText = byId('confirm-text');

  /** @type {Memory | undefined} the memory being edited, as last shown */
  let editing;
  /** @type {Memory | undefined} the saved version a 412 found */
  let fresh;
  let idempotencyKey = crypto.randomUUID();

  /** @param {Memory | undefined} memory */
  function fill(memory) {
    editing = memory;
    fresh = undefined;
    conflict.hidden = true;
    title.textContent = memory ? 'Edit the memory' : 'Add a memory';
    cancel.hidden = !memory;
    versionLine.hidden = !memory;
    versionLine.textContent = memory ? `Version ${memory.version}, last changed ${formatInstant(memory.updatedAt)}.` : '';
    content.value = memory?.content ?? '';
    type.value = memory?.type ?? 'note';
    tags.value = memory?.tags.join(', ') ?? '';
  }

  /** @param {Memory} saved */
  function offerFresh(saved) {
    fresh = saved;
    conflictText.textContent = `Someone changed this memory since you opened it: it is now at version ` +
      `${saved.version} (${formatInstant(saved.updatedAt)}), and reads:`;
    conflictContent.textContent = saved.content;
    conflict.hidden = false;
  }

  async function save() {
    const text = content.value.trim();
    if (!text) {
      announce('Write what to remember first: the content is empty.', { kind: 'error' });
      content.focus();
      return;
    }
    const changes = { content: text, type: type.value, tags: splitTags(tags.value) };
    if (!editing) {
      try {
        await page.signed.createMemory(changes, idempotencyKey);
      } catch (error) {
        if (!(error instanceof TypeError)) idempotencyKey = crypto.randomUUID(); // Memo answered: a new save
        page.report(error);
        return;
      }
      idempotencyKey = crypto.randomUUID();
      fill(undefined);
      page.memoriesChanged();
      announce('The memory was saved.');
      page.go('#memories');
      return;
    }
    const target = editing;
    let saved;
    try {
      saved = await page.signed.updateMemory(target.id, changes, target.version); // until a choice, 412 again
    } catch (error) {
      if (/** @type {{ code?: unknown }} */ (error).code !== 'VERSION_CONFLICT') {
        page.report(error);
        return;
      }
      try {
        offerFresh(await page.signed.getMemory(target.id));
      } catch (reading) {
        page.report(reading);
        return;
      }
      announce(`${sentenceFor(error)} Your text is kept: use the saved version, or keep your changes and save ` +
        'again to replace it.', { kind: 'error' });
      return;
    }
    fill(undefined);
    page.memoriesChanged();
    announce(`The changes were saved: the memory is now at version ${saved.version}.`);
    page.go('#memories');
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void whileBusy(form, save);
  });
  content.addEventListener('keydown', (event) => { // Enter is a new line in the content; Ctrl+Enter saves
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  cancel.addEventListener('click', () => {
    fill(undefined);
    page.go('#memories');
  });
  byId('conflict-use').addEventListener('click', () => {
    if (!fresh) return;
    fill(fresh);
    announce('The saved version is in the editor now.');
    content.focus();
  });
  byId('conflict-keep').addEventListener('click', () => {
    if (!fresh || !editing) return;
    editing = { ...editing, version: fresh.version }; // save again: mine replaces the version just seen
    versionLine.textContent = `Version ${fresh.version}, last changed ${formatInstant(fresh.updatedAt)}.`;
    fresh = undefined;
    conflict.hidden = true;
    announce('Your changes are kept: save to replace the saved version with them.');
    content.focus();
  });
  page.onForget.push(() => fill(undefined));

  return {
    openAdd() {
      if (editing) fill(undefined);
      page.show('editor', { link: 'editor' });
    },

    /** @param {Memory} memory as the list showed it */
    startEdit(memory) {
      fill(memory);
      page.go(`#edit/${encodeURIComponent(memory.id)}`);
    },

    /** @param {string} id opened by its address (a reload, a bookmark): read it first */
    async openEdit(id) {
      if (editing?.id !== id) {
        try {
          fill(await page.signed.getMemory(id));
        } catch (error) {
          page.report(error);
          return;
        }
      }
      page.show('editor', { link: 'memories' });
    },

    /** @param {Memory} memory */
    async confirmDelete(memory) {
      if (dialog.open) return; // a second click while it asks
      const preview = memory.content.length > 80 ? `${memory.content.slice(0, 80)}…` : memory.content;
      dialogText.replaceChildren('“', preview, '” will be deleted for good.');
      dialog.returnValue = '';
      const chosen = await new Promise((resolve) => {
        dialog.addEventListener('close', () => resolve(dialog.returnValue), { once: true });
        dialog.showModal();
      });
      if (chosen !== 'delete') return;
      try {
        await page.signed.deleteMemory(memory.id);
      } catch (error) {
        page.report(error);
        return;
      }
      for (const shown of document.querySelectorAll(`[data-memory-id="${CSS.escape(memory.id)}"]`)) shown.remove();
      if (editing?.id === memory.id) fill(undefined);
      page.memoriesChanged();
      announce('The memory was deleted.');
      if (!byId('view-memory').hidden) page.go('#memories');
      else page.refocus();
    },
  };
}
