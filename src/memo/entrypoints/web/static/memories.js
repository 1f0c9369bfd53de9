// @ts-check
/**
 * The list of memories, newest first, with its filters and "Show more" paging that follows pagination.hasMore.
 * It is read again when shown after a change elsewhere (a save, a delete), never on every visit.
 */

import { memoryCard } from './cards.js';
import { announce, byId, whileBusy } from './dom.js';
import { PAGE_SIZE, dayBounds, splitTags } from './memo-api.js';

const MAX_PAGE = 100; // the largest limit Memo takes

/** @typedef {import('./cards.js').Memory} Memory */

/** @param {HTMLFormElement} form */
function readFilters(form) {
  const field = (/** @type {string} */ name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name)).value;
  return {
    type: field('type') || undefined,
    tags: splitTags(field('tags')),
    search: field('search').trim() || undefined,
    ...dayBounds(field('after'), field('before')),
  };
}

/** @param {number} count */
const memoriesWord = (count) => (count === 1 ? '1 memory' : `${count} memories`);

/** @param {import('./main.js').Page} page */
export function setupMemories(page) {
  const form = /** @type {HTMLFormElement} */ (byId('filter-form'));
  const list = byId('memory-list');
  const count = byId('memory-count');
  const empty = byId('memory-empty');
  const more = /** @type {HTMLButtonElement} */ (byId('more'));
  const refresh = /** @type {HTMLButtonElement} */ (byId('refresh'));
  let filters = readFilters(form);
  let shown = 0;
  let stale = true;

  function clear() {
    list.replaceChildren();
    count.textContent = '';
    empty.hidden = true;
    more.hidden = true;
    shown = 0;
    stale = true;
  }

  /** @param {Memory} memory */
  const card = (memory) => memoryCard(memory, {
    onEdit: (chosen) => page.edit(chosen),
    onDelete: (chosen) => page.confirmDelete(chosen),
  });

  /**
   * The first page again, or the next one after those shown; `keep` reads again as many as were shown (up to
   * the largest page), so a delete deep in the list leaves the reader where they were.
   * @param {{ append?: boolean, say?: boolean, keep?: boolean }} [options]
   */
  async function load({ append = false, say = false, keep = false } = {}) {
    const offset = append ? shown : 0;
    const limit = keep ? Math.min(MAX_PAGE, Math.max(PAGE_SIZE, shown)) : PAGE_SIZE;
    let answer;
    try {
      answer = await page.signed.listMemories({ ...filters, offset, limit });
    } catch (error) {
      page.report(error);
      return;
    }
    const { memories, pagination } = answer;
    const cards = memories.map(card);
    if (append) list.append(...cards);
    else list.replaceChildren(...cards);
    shown = offset + memories.length;
    stale = false;
    empty.hidden = shown > 0;
    more.hidden = !pagination.hasMore;
    count.textContent = pagination.total === 0 ? '' : `Showing ${shown} of ${memoriesWord(pagination.total)}.`;
    if (say) announce(`${memoriesWord(pagination.total)} ${pagination.total === 1 ? 'matches' : 'match'}.`);
    if (append && cards.length) {
      cards[0].tabIndex = -1; // the keyboard lands on what just came, not back at the top
      cards[0].focus();
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    filters = readFilters(form);
    void whileBusy(form, () => load({ say: true }));
  });
  form.addEventListener('reset', () => {
    if (!page.api) return; // the reset of "Forget this device"
    setTimeout(() => { // the reset event comes before the fields are emptied
      filters = readFilters(form);
      void whileBusy(form, () => load({ say: true }));
    });
  });
  more.addEventListener('click', () => void whileBusy(more, () => load({ append: true })));
  refresh.addEventListener('click', () => void whileBusy(refresh, () => load()));
  page.onForget.push(() => {
    form.reset();
    filters = readFilters(form);
    clear();
  });
  page.onMemoriesChanged.push(() => {
    if (byId('view-memories').hidden) stale = true;
    else void load({ keep: true }); // a delete from the list itself: the counts and the next page move
  });

  return {
    async open() {
      page.show('memories');
      if (stale) await load();
    },
  };
}
