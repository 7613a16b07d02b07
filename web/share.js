// share.js - the public share page (/s/{token}, written by src/share_page.c): the
// page already shows the two pictures side by side; this turns them into the same
// before/after slider as the app, with a button to go back to side by side.
import { comparison } from './compare.js';
import { el } from './ui.js';

const pair = document.querySelector('.pair');
const imgs = pair ? pair.querySelectorAll('figure img') : [];
if (pair && imgs.length === 2) {
  const c = comparison(imgs[0].src, imgs[1].src, {
    afterAlt: imgs[1].alt,
    beforeAlt: imgs[0].alt,
  });
  const slider = el('button', { class: 'btn small', type: 'button', 'aria-pressed': 'true' }, 'Slider');
  const side = el('button', { class: 'btn small', type: 'button', 'aria-pressed': 'false' }, 'Side by side');
  const bar = el('div', { class: 'viewbar', role: 'group', 'aria-label': 'View' }, slider, side);
  const show = (s) => {
    c.root.hidden = !s;
    pair.hidden = s;
    slider.setAttribute('aria-pressed', String(s));
    side.setAttribute('aria-pressed', String(!s));
  };
  slider.addEventListener('click', () => show(true));
  side.addEventListener('click', () => show(false));
  pair.before(bar, c.root);
  show(true);
}
