// drawing.js - one drawing: the before/after slider or the two side by side, its
// edits with their prompts (choose which one to compare), another edit, download,
// share links (create, copy, revoke) and delete.
import { api, download } from './api.js';
import { comparison, sideBySide } from './compare.js';
import { editForm } from './upload.js';
import { confirmDialog, el, errorLine, fmtDate, fmtTime, toast } from './ui.js';

function sourceText(e) {
  const how = e.source === 'audio' ? 'spoken' : 'typed';
  const applied = Array.isArray(e.applied) && e.applied.length ? ` · ${e.applied.join(', ')}` : '';
  return `${how} · ${fmtTime(e.created_at)}${applied}`;
}

export async function renderDrawing(main, id, { chosen = null, view = 'slider' } = {}) {
  const d = await api(`/api/drawings/${id}`);
  const edits = d.edits || [];
  let pick = chosen !== null && chosen < edits.length ? chosen : edits.length - 1; // -1: the original
  const err = errorLine();

  const title = el('h1', {}, pick >= 0 ? edits[pick].prompt : 'Your drawing');
  const sub = el('p', { class: 'sub' },
    `${fmtDate(d.created_at)} · ${edits.length} ${edits.length === 1 ? 'edit' : 'edits'}`);
  const stage = el('div', { class: 'stage' });
  const sliderBtn = el('button', { class: 'btn small', type: 'button', 'aria-pressed': String(view === 'slider') }, 'Slider');
  const pairBtn = el('button', { class: 'btn small', type: 'button', 'aria-pressed': String(view === 'pair') }, 'Side by side');
  const viewbar = el('div', { class: 'viewbar', role: 'group', 'aria-label': 'View' }, sliderBtn, pairBtn);

  function drawStage() {
    title.textContent = pick >= 0 ? edits[pick].prompt : 'Your drawing';
    viewbar.hidden = edits.length === 0;
    if (pick < 0) {
      stage.replaceChildren(el('div', { class: 'compare' },
        el('img', { src: d.uploaded_image_url, alt: 'The original drawing' })),
      edits.length ? null : el('p', { class: 'hint' }, 'No edits yet: describe one on the right, or record it.'));
      return;
    }
    const after = edits[pick].url;
    if (view === 'pair') {
      stage.replaceChildren(sideBySide(d.uploaded_image_url, after, edits[pick].prompt));
    } else {
      stage.replaceChildren(comparison(d.uploaded_image_url, after, {
        afterAlt: `After: ${edits[pick].prompt}`,
      }).root);
    }
  }
  sliderBtn.addEventListener('click', () => { view = 'slider'; sliderBtn.setAttribute('aria-pressed', 'true'); pairBtn.setAttribute('aria-pressed', 'false'); drawStage(); });
  pairBtn.addEventListener('click', () => { view = 'pair'; pairBtn.setAttribute('aria-pressed', 'true'); sliderBtn.setAttribute('aria-pressed', 'false'); drawStage(); });

  // the edits, oldest first; choosing one compares it with the original
  const list = el('ol', { class: 'edits', 'aria-label': 'Edits' });
  function drawList() {
    list.replaceChildren(...edits.map((e, i) => {
      const b = el('button', { type: 'button', 'aria-current': String(i === pick) },
        el('img', { src: e.thumbnail_url || e.url, alt: '', loading: 'lazy' }),
        el('span', {}, el('span', { class: 'p' }, e.prompt), el('span', { class: 's' }, sourceText(e))));
      b.addEventListener('click', () => { pick = i; drawList(); drawStage(); });
      return el('li', {}, b);
    }));
  }

  const again = editForm({
    drawingId: id,
    onDone: () => renderDrawing(main, id, { view }).then(() => toast('Edit added')),
  });

  // download, share, delete
  const dlBtn = el('button', { class: 'btn', type: 'button' }, 'Download');
  const shareBtn = el('button', { class: 'btn', type: 'button' }, 'Share');
  const delBtn = el('button', { class: 'btn danger', type: 'button' }, 'Delete');
  const shares = el('ul', { class: 'shares', 'aria-label': 'Share links' });

  dlBtn.addEventListener('click', async () => {
    err.clear();
    const q = pick >= 0 ? `?edit=${pick + 1}` : '';
    try {
      await download(`/api/drawings/${id}/download${q}`, `drawing-${id}.png`);
    } catch (x) { err.show(x.message); }
  });

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
      toast('Link copied');
    } catch {
      toast('Select the link and copy it');
    }
  }

  function shareRow(s) {
    const input = el('input', { type: 'url', readonly: true, value: s.url, 'aria-label': 'Share link' });
    input.addEventListener('focus', () => input.select());
    const copyBtn = el('button', { class: 'btn small', type: 'button' }, 'Copy');
    const revoke = el('button', { class: 'btn small danger', type: 'button' }, 'Revoke');
    copyBtn.addEventListener('click', () => copy(s.url));
    revoke.addEventListener('click', async () => {
      try {
        await api(`/api/shares/${encodeURIComponent(s.token)}`, { method: 'DELETE' });
        li.remove();
        toast('Link revoked');
      } catch (x) { err.show(x.message); }
    });
    const li = el('li', {}, input, copyBtn, revoke,
      el('span', { class: 'views' }, `Created ${fmtTime(s.created_at)}${s.views !== undefined ? ` · ${s.views} ${s.views === 1 ? 'view' : 'views'}` : ''}`));
    return li;
  }

  shareBtn.addEventListener('click', async () => {
    err.clear();
    shareBtn.disabled = true;
    try {
      const s = await api(`/api/drawings/${id}/share`, { method: 'POST', json: {} });
      const row = shareRow({ ...s, views: 0 });
      shares.prepend(row);
      row.querySelector('input').focus();
      copy(s.url);
    } catch (x) { err.show(x.message); }
    shareBtn.disabled = false;
  });

  delBtn.addEventListener('click', async () => {
    if (!(await confirmDialog('Delete this drawing?',
      'The drawing, its edits and its share links are removed for good.', 'Delete'))) return;
    try {
      await api(`/api/drawings/${id}`, { method: 'DELETE' });
      toast('Drawing deleted');
      location.hash = '#/';
    } catch (x) { err.show(x.message); }
  });

  drawStage();
  drawList();
  main.replaceChildren(
    el('a', { class: 'back', href: '#/' }, '← Gallery'),
    el('div', { class: 'drawing' },
      el('section', { 'aria-label': 'Comparison' }, title, sub, viewbar, stage),
      el('div', { class: 'side' },
        err.root,
        el('section', { class: 'panel card', 'aria-label': 'Actions' },
          el('div', { class: 'actions-row' }, dlBtn, shareBtn, delBtn), shares),
        edits.length ? el('section', { class: 'panel card' }, el('h2', {}, 'Edits'), list) : null,
        again)));
  document.title = `${pick >= 0 ? edits[pick].prompt : 'Drawing'} · NovaDraw`;

  api(`/api/drawings/${id}/shares`).then((r) => {
    shares.replaceChildren(...r.data.map(shareRow));
  }, () => {});
  return null;
}
