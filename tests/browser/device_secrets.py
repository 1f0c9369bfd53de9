"""Scripts evaluated in the page to see what its own JavaScript could read of the device key."""

from __future__ import annotations

# Every value of every object store of every IndexedDB database of the origin: the CryptoKeys found (and whether
# crypto.subtle will export them), and whether the secret string is among the stored strings.
STORED_KEYS = """
async (secret) => {
  const request = (r) => new Promise((ok, no) => { r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
  const keys = [];
  let secretStored = false;
  const visit = (value) => {
    if (value instanceof CryptoKey) keys.push(value);
    else if (typeof value === 'string') secretStored ||= value.includes(secret);
    else if (value && typeof value === 'object') Object.entries(value).forEach(([k, v]) => { visit(k); visit(v); });
  };
  for (const { name } of await indexedDB.databases()) {
    const db = await request(indexedDB.open(name));
    for (const store of db.objectStoreNames) {
      (await request(db.transaction(store).objectStore(store).getAll())).forEach(visit);
    }
    db.close();
  }
  const exported = [];
  for (const key of keys) {
    for (const format of ['raw', 'jwk']) {
      try { await crypto.subtle.exportKey(format, key); exported.push(format); } catch { /* refused, as it must be */ }
    }
  }
  const found = keys.map((key) => ({ extractable: key.extractable, algorithm: key.algorithm.name }));
  return { keys: found, exported, secretStored };
}
"""

# Everywhere else a script of the page could find a string: the markup, the form fields' live values, both
# storages, the cookies and the address.
READABLE_PLACES = """
() => ({
  outerHTML: document.documentElement.outerHTML,
  fieldValues: [...document.querySelectorAll('input, textarea')].map((field) => field.value).join('\\n'),
  localStorage: JSON.stringify(Object.entries(localStorage)),
  sessionStorage: JSON.stringify(Object.entries(sessionStorage)),
  cookie: document.cookie,
  location: location.href,
})
"""
