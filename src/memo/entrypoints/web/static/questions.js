// @ts-check
/**
 * Search by meaning (hybrid, semantic or keyword), ask with the answer's sources linked to the memories they
 * quote, and one memory opened from such a link. An answer without citations is Memo saying it does not know,
 * and is shown as that, not as an answer.
 */

import { memoryCard } from './cards.js';
import { announce, byId, el, formatInstant, whileBusy } from './dom.js';

/** @typedef {import('./cards.js').Memory} Memory */

/** @param {number} count */
const resultsWord = (count) => (count === 1 ? '1 result' : `${count} results`);

/** @param {import('./main.js').Page} page */
export function setupQuestions(page) {
  const searchForm = /** @type {HTMLFormElement} */ (byId('search-form'));
  const results = byId('search-results');
  const note = byId('search-note');
  const noHits = byId('search-empty');
  const askForm = /** @type {HTMLFormElement} */ (byId('ask-form'));
  const answer = byId('answer');
  const answerText = byId('answer-text');
  const unknown = byId('answer-unknown');
  const sourcesTitle = byId('sources-title');
  const sources = byId('answer-sources');
  const opened = byId('memory-one');

  /** @param {Memory} memory @param {string} [extra] */
  const card = (memory, extra) => memoryCard(memory, {
    onEdit: (chosen) => page.edit(chosen), onDelete: (chosen) => page.confirmDelete(chosen), extra,
  });

  async function search() {
    const query = /** @type {HTMLInputElement} */ (byId('search-query')).value.trim();
    if (!query) {
      announce('Type what to search for first.', { kind: 'error' });
      return;
    }
    const mode = /** @type {HTMLInputElement} */ (searchForm.querySelector('input[name="mode"]:checked')).value;
    let found;
    try {
      found = await page.signed.search({ query, mode, limit: 20 });
    } catch (error) {
      page.report(error);
      return;
    }
    /** @type {{ memory: Memory, score: number }[]} */
    const hits = found.data;
    results.replaceChildren(...hits.map((hit) => card(hit.memory, `Score ${hit.score.toFixed(3)}`)));
    noHits.hidden = hits.length > 0;
    note.hidden = !found.degraded;
    note.textContent = found.degraded
      ? `Only the keyword side answered (${found.degradedReason ?? 'the meaning side is unavailable'}).` : '';
    announce(`${resultsWord(hits.length)}.`);
  }

  /**
   * @param {{ answer: string, citations: string[], sources: { memoryId: string, quote: string, createdAt: string }[] }}
   *   given
   */
  function showAnswer(given) {
    answer.hidden = false;
    answerText.textContent = given.answer;
    const knows = given.citations.length > 0;
    unknown.hidden = knows;
    sourcesTitle.hidden = !knows;
    sources.hidden = !knows;
    const byMemory = new Map(given.sources.map((source) => [source.memoryId, source]));
    sources.replaceChildren(...given.citations.map((memoryId) => {
      const source = byMemory.get(memoryId);
      const name = source ? `Memory of ${formatInstant(source.createdAt)}` : 'The cited memory';
      return el('li', {},
        el('a', { href: `#memory/${encodeURIComponent(memoryId)}` }, name),
        source && source.quote ? el('blockquote', {}, source.quote) : null);
    }));
    announce(knows ? `Memo answered from ${given.citations.length === 1 ? 'one memory' :
      `${given.citations.length} memories`}.` : 'Memo does not know.');
  }

  async function ask() {
    const question = /** @type {HTMLInputElement} */ (byId('ask-question')).value.trim();
    if (!question) {
      announce('Type a question first.', { kind: 'error' });
      return;
    }
    try {
      showAnswer(await page.signed.ask(question));
    } catch (error) {
      page.report(error);
    }
  }

  searchForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void whileBusy(searchForm, search);
  });
  askForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void whileBusy(askForm, ask);
  });
  page.onForget.push(() => {
    searchForm.reset();
    askForm.reset();
    results.replaceChildren();
    sources.replaceChildren();
    opened.replaceChildren();
    answer.hidden = true;
    note.hidden = true;
    noHits.hidden = true;
  });

  return {
    /** @param {string} id */
    async openMemory(id) {
      opened.replaceChildren();
      page.show('memory');
      try {
        opened.append(card(await page.signed.getMemory(id)));
      } catch (error) {
        page.report(error);
      }
    },
  };
}
