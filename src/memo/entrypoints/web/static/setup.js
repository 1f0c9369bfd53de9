// @ts-check
/**
 * The key form: the pasted secret is imported at once as a non-extractable key and every field is emptied right
 * after, so the secret is in no input, no variable of the page and no storage but the CryptoKey in IndexedDB.
 */

import { announce, byId, whileBusy } from './dom.js';
import { KeyInputError, forgetDevice, parseKeyInput, saveDevice } from './device.js';
import { needsKey, sentenceFor } from './messages.js';

/** @param {import('./main.js').Page} page */
export function setupKeyForm(page) {
  const form = /** @type {HTMLFormElement} */ (byId('setup-form'));
  const keyId = /** @type {HTMLInputElement} */ (byId('setup-key-id'));
  const secret = /** @type {HTMLInputElement} */ (byId('setup-secret'));
  const json = /** @type {HTMLTextAreaElement} */ (byId('setup-json'));

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void whileBusy(form, async () => {
      let device;
      try {
        const pasted = parseKeyInput({ keyId: keyId.value, secret: secret.value, json: json.value });
        secret.value = '';
        json.value = '';
        device = await saveDevice(pasted);
        keyId.value = '';
      } catch (error) {
        secret.value = '';
        json.value = '';
        if (error instanceof KeyInputError) announce(error.message, { kind: 'error' });
        else page.report(error);
        return;
      }
      const shownAtSave = location.hash;
      page.useDevice(device);
      // the navigation shows at once: a view chosen before the check answers is left as it is
      const open = () => { if (location.hash === shownAtSave) page.go('#memories'); };
      try {
        await page.signed.listMemories({ limit: 1 }); // does Memo know this key?
      } catch (error) {
        if (needsKey(error)) {
          await forgetDevice();
          page.dropDevice();
          page.show('setup');
          announce(`${sentenceFor(error)} Check the key id and secret, then save them again.`, { kind: 'error' });
          return;
        }
        page.report(error); // Memo unreachable, say: the key is kept, and the list tries again
        open();
        return;
      }
      announce(`This device is set up: it signs with the key ${device.keyId}.`);
      open();
    });
  });
}
