// @ts-check
/** One memory as a list item: its content, type, tags and dates, and the buttons that act on it. */

import { el, timeElement } from './dom.js';

/** @typedef {{ id: string, content: string, type: string, tags: string[], source: string, createdAt: string,
 *              updatedAt: string, version: number }} Memory */

/** @type {Readonly<Record<string, string>>} */
export const TYPE_NAMES = Object.freeze({
  note: 'Note', reminder: 'Reminder', whatsapp_received: 'WhatsApp received', whatsapp_sent: 'WhatsApp sent',
  voice_memo: 'Voice memo',
});

/**
 * @param {Memory} memory
 * @param {{ onEdit: (memory: Memory) => void, onDelete: (memory: Memory) => void, extra?: string }} actions
 */
export function memoryCard(memory, { onEdit, onDelete, extra }) {
  const edit = el('button', { type: 'button', class: 'secondary' }, 'Edit');
  const remove = el('button', { type: 'button', class: 'danger' }, 'Delete');
  edit.addEventListener('click', () => onEdit(memory));
  remove.addEventListener('click', () => onDelete(memory));
  return el('li', { class: 'card', 'data-memory-id': memory.id },
    el('p', { class: 'content' }, memory.content),
    el('p', { class: 'facts' },
      el('span', {}, `Type: ${TYPE_NAMES[memory.type] ?? memory.type}`),
      el('span', {}, memory.tags.length ? `Tags: ${memory.tags.join(', ')}` : 'Tags: none'),
      el('span', {}, 'Created ', timeElement(memory.createdAt)),
      el('span', {}, 'Updated ', timeElement(memory.updatedAt)),
      extra && el('span', {}, extra)),
    el('div', { class: 'actions' }, edit, remove));
}
