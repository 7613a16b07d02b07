// compare.js - the before/after comparison: the original under its edit, the edit
// revealed to the right of a handle with role="slider" named "Before and after"
// (aria-valuenow 0-100: the share of the picture showing the original), moved by
// dragging anywhere on the picture and by the arrow keys, Page Up/Down, Home, End.
import { el } from './ui.js';

export function comparison(beforeSrc, afterSrc, { beforeAlt, afterAlt, value = 50 } = {}) {
  const before = el('img', { class: 'before', src: beforeSrc, alt: beforeAlt || 'The original drawing', decoding: 'async' });
  const after = el('img', { class: 'after', src: afterSrc, alt: afterAlt || 'The drawing after the edit', decoding: 'async' });
  const handle = el('div', {
    class: 'handle', role: 'slider', tabindex: '0', 'aria-label': 'Before and after',
    'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-orientation': 'horizontal',
  }, el('span', { 'aria-hidden': 'true' }, '‹ ›'));
  const root = el('div', { class: 'compare' }, before, after,
    el('span', { class: 'tag l', 'aria-hidden': 'true' }, 'Before'),
    el('span', { class: 'tag r', 'aria-hidden': 'true' }, 'After'), handle);

  function set(v) {
    value = Math.max(0, Math.min(100, Math.round(v)));
    root.style.setProperty('--pos', `${value}%`);
    handle.setAttribute('aria-valuenow', String(value));
    handle.setAttribute('aria-valuetext', `${value}% before, ${100 - value}% after`);
  }
  set(value);

  handle.addEventListener('keydown', (e) => {
    const step = e.shiftKey ? 10 : 2;
    const keys = {
      ArrowLeft: value - step, ArrowDown: value - step, ArrowRight: value + step, ArrowUp: value + step,
      PageDown: value - 10, PageUp: value + 10, Home: 0, End: 100,
    };
    if (e.key in keys) {
      e.preventDefault();
      set(keys[e.key]);
    }
  });

  let dragging = false;
  const fromEvent = (e) => {
    const r = root.getBoundingClientRect();
    set(((e.clientX - r.left) / r.width) * 100);
  };
  root.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    dragging = true;
    root.setPointerCapture(e.pointerId);
    fromEvent(e);
    handle.focus({ preventScroll: true });
    e.preventDefault();
  });
  root.addEventListener('pointermove', (e) => { if (dragging) fromEvent(e); });
  const stop = () => { dragging = false; };
  root.addEventListener('pointerup', stop);
  root.addEventListener('pointercancel', stop);

  return {
    root,
    set,
    setImages(b, a, afterText) {
      before.src = b;
      after.src = a;
      if (afterText) after.alt = afterText;
    },
  };
}

// The same two pictures next to each other, with captions.
export function sideBySide(beforeSrc, afterSrc, caption) {
  return el('div', { class: 'pair' },
    el('figure', { class: 'card' },
      el('img', { src: beforeSrc, alt: 'The original drawing', decoding: 'async' }),
      el('figcaption', {}, el('b', {}, 'Before'), 'the original')),
    el('figure', { class: 'card' },
      el('img', { src: afterSrc, alt: caption ? `After: ${caption}` : 'After the edit', decoding: 'async' }),
      el('figcaption', {}, el('b', {}, 'After'), caption || '')));
}
