// @ts-check
/**
 * WhatsApp sync status (with the background jobs that failed), the export as a download, and this device's key:
 * forgetting it deletes the IndexedDB record and everything the page was showing.
 */

import { announce, byId, el, formatInstant, whileBusy } from './dom.js';
import { forgetDevice } from './device.js';

/**
 * @param {string} title
 * @param {Record<string, number>} counts
 */
function countList(title, counts) {
  const entries = Object.entries(counts ?? {});
  return el('div', { class: 'counts' },
    el('h3', {}, title),
    entries.length
      ? el('dl', {}, ...entries.flatMap(([name, value]) => [
        el('dt', {}, name.charAt(0).toUpperCase() + name.slice(1)), el('dd', {}, String(value))]))
      : el('p', {}, 'None yet.'));
}

/** @param {{ lastWebhookAt: string | null, received: number, sent: number, deliveries: Record<string, number>,
 *            media: Record<string, number>, jobs: Record<string, number> }} status */
export function statusNodes(status) {
  const failed = status.jobs?.failed ?? 0;
  return [
    el('p', {}, status.lastWebhookAt
      ? `The last WhatsApp notification came ${formatInstant(status.lastWebhookAt)}.`
      : 'No WhatsApp notification has come yet.'),
    el('p', {}, `${status.received} received, ${status.sent} sent.`),
    failed
      ? el('p', { class: 'warning' }, `${failed === 1 ? 'One background job' : `${failed} background jobs`} ` +
        'failed and stopped retrying; the operator can see them with memo jobs list --state failed and run them ' +
        'again with memo jobs retry.')
      : el('p', {}, 'No background job has failed.'),
    countList('Deliveries', status.deliveries),
    countList('Media', status.media),
    countList('Background jobs', status.jobs),
  ];
}

/** The name a download gets: memo-export-2026-03-04.jsonl. @param {'jsonl' | 'markdown'} format */
export function exportFileName(format, now = new Date()) {
  const day = [now.getFullYear(), now.getMonth() + 1, now.getDate()].map((n) => String(n).padStart(2, '0')).join('-');
  return `memo-export-${day}.${format === 'markdown' ? 'md' : 'jsonl'}`;
}

/** @param {Blob} blob @param {string} name */
function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000); // some browsers read the URL after click() returns
}

/** @param {import('./main.js').Page} page */
export function setupOthers(page) {
  const statusRegion = byId('whatsapp-status');
  const refresh = /** @type {HTMLButtonElement} */ (byId('whatsapp-refresh'));

  async function loadStatus() {
    try {
      statusRegion.replaceChildren(...statusNodes(await page.signed.syncStatus()));
      return true;
    } catch (error) {
      page.report(error);
      return false;
    }
  }

  /** @param {HTMLButtonElement} button @param {'jsonl' | 'markdown'} format */
  function exportOn(button, format) {
    button.addEventListener('click', () => void whileBusy(button, async () => {
      announce('Preparing the export…');
      try {
        const blob = await page.signed.exportBlob(format);
        const name = exportFileName(format);
        download(blob, name);
        announce(`The export was downloaded as ${name}.`);
      } catch (error) {
        page.report(error);
      }
    }));
  }

  refresh.addEventListener('click', () => void whileBusy(refresh, async () => {
    if (await loadStatus()) announce('The status is up to date.');
  }));
  exportOn(/** @type {HTMLButtonElement} */ (byId('export-jsonl')), 'jsonl');
  exportOn(/** @type {HTMLButtonElement} */ (byId('export-markdown')), 'markdown');

  const forget = /** @type {HTMLButtonElement} */ (byId('device-forget'));
  forget.addEventListener('click', () => void whileBusy(forget, async () => {
    try {
      await forgetDevice();
    } catch (error) {
      announce(`This browser would not delete the key (${String(error)}).`, { kind: 'error' });
      return;
    }
    page.dropDevice();
    statusRegion.replaceChildren();
    announce('This device has forgotten its key. Paste a key to use Memo here again.');
    page.go('#memories'); // shows the setup view while there is no key
  }));
  byId('device-replace').addEventListener('click', () => page.show('setup'));

  return {
    async openWhatsApp() {
      page.show('whatsapp');
      await loadStatus();
    },
    openDevice() {
      byId('device-key').textContent = `This device signs with the key ${page.keyId}.`;
      page.show('device');
    },
  };
}
