// upload.js - the edit form: a new drawing (file picker or drag and drop) or another
// edit of a saved one, with a typed prompt or a recorded voice prompt
// (MediaRecorder), showing progress and the API's errors in words.
import { upload } from './api.js';
import { el, errorLine, progress } from './ui.js';

const MAX_SECONDS = 60;

// A recorder bound to a button; state changes call onChange().
function recorder(button, status, onChange) {
  let rec = null;
  let chunks = [];
  let started = 0;
  let timer = null;
  const state = { blob: null, seconds: 0 };

  function show() {
    if (rec) {
      button.textContent = 'Stop recording';
      button.classList.add('recording');
      button.setAttribute('aria-pressed', 'true');
      status.textContent = `Recording… ${Math.round((Date.now() - started) / 1000)} s`;
    } else {
      button.textContent = 'Record';
      button.classList.remove('recording');
      button.setAttribute('aria-pressed', 'false');
      status.textContent = state.blob ? `Voice prompt ready (${state.seconds} s)` : '';
    }
    onChange();
  }

  async function start() {
    if (!window.MediaRecorder || !navigator.mediaDevices) {
      throw new Error('This browser cannot record audio; type a prompt instead.');
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      throw new Error('The microphone is not available (permission denied or no device).');
    }
    const type = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4']
      .find((t) => MediaRecorder.isTypeSupported(t));
    rec = new MediaRecorder(stream, type ? { mimeType: type } : {});
    chunks = [];
    rec.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
    rec.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      state.blob = new Blob(chunks, { type: rec.mimeType || 'audio/webm' });
      state.seconds = Math.max(1, Math.round((Date.now() - started) / 1000));
      rec = null;
      clearInterval(timer);
      show();
    };
    started = Date.now();
    rec.start();
    timer = setInterval(() => {
      if (Date.now() - started >= MAX_SECONDS * 1000) rec.stop();
      else show();
    }, 500);
    show();
  }

  return {
    state,
    async toggle() {
      if (rec) rec.stop();
      else await start();
    },
    clear() { state.blob = null; show(); },
    recording: () => rec !== null,
  };
}

// The form. opts.drawingId: another edit of that drawing (no file input);
// opts.onDone(answer): after a successful edit or save.
export function editForm({ drawingId = null, onDone, onSaved }) {
  const isNew = !drawingId;
  const err = errorLine();
  const bar = progress();
  const prompt = el('input', {
    id: isNew ? 'prompt' : 'edit-prompt', type: 'text', name: 'prompt', maxlength: 1000,
    placeholder: 'make it colorful and add a vignette', autocomplete: 'off',
  });
  const editBtn = el('button', { class: 'btn primary', type: 'submit' }, 'Edit');
  const recBtn = el('button', { class: 'btn', type: 'button', 'aria-pressed': 'false' }, 'Record');
  const voiceStatus = el('span', { 'aria-live': 'polite' });
  const discard = el('button', { class: 'btn small ghost', type: 'button', hidden: true }, 'Discard voice');
  let file = null;
  let input = null;
  let preview = null;
  let saveBtn = null;
  let busy = false;

  const voiceRow = el('div', { class: 'voice', hidden: true }, voiceStatus, discard);
  const rec = recorder(recBtn, voiceStatus, () => {
    voiceRow.hidden = !rec.state.blob && !rec.recording();
    discard.hidden = !rec.state.blob || rec.recording();
    prompt.disabled = !!rec.state.blob;
  });
  recBtn.addEventListener('click', async () => {
    err.clear();
    try { await rec.toggle(); } catch (x) { err.show(x.message); }
  });
  discard.addEventListener('click', () => rec.clear());

  const children = [];
  if (isNew) {
    input = el('input', { id: 'drawing', type: 'file', name: 'file', accept: 'image/*' });
    const placeholder = () => el('img', { src: new URL('./picture.svg', import.meta.url).href, alt: '', width: 40, height: 40 });
    preview = el('div', { class: 'preview', 'aria-hidden': 'true' }, placeholder());
    const drop = el('div', { class: 'drop' }, preview,
      el('div', { class: 'pick' },
        el('label', { for: 'drawing' }, 'Drawing'),
        input,
        el('p', { class: 'hint' }, 'Choose a picture or drop it here. PNG, JPEG, WebP, GIF or HEIC.')));
    const pick = (f) => {
      file = f || null;
      err.clear();
      const old = preview.querySelector('img');
      if (old) URL.revokeObjectURL(old.src);
      preview.replaceChildren(file
        ? el('img', { class: 'preview', src: URL.createObjectURL(file), alt: '' })
        : placeholder());
    };
    input.addEventListener('change', () => pick(input.files[0]));
    drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      const f = e.dataTransfer.files[0];
      if (!f) return;
      try { input.files = e.dataTransfer.files; } catch { /* older browsers */ }
      pick(f);
    });
    children.push(el('h2', {}, 'New drawing'), drop);
    saveBtn = el('button', { class: 'btn', type: 'button' }, 'Save without editing');
  } else {
    children.push(el('h2', {}, 'Another edit'));
  }

  const form = el('form', { class: isNew ? 'new card' : 'panel card', novalidate: true },
    ...children,
    el('div', { class: 'prompt-row' },
      el('div', { class: 'field' }, el('label', { for: prompt.id }, 'Prompt'), prompt),
      editBtn, recBtn),
    voiceRow,
    saveBtn ? el('div', { class: 'actions-row' }, saveBtn) : null,
    bar.root, err.root);

  function setBusy(on) {
    busy = on;
    for (const b of [editBtn, recBtn, saveBtn]) if (b) b.disabled = on;
  }

  async function send(path, fd, waiting) {
    setBusy(true);
    err.clear();
    bar.set(0, 'Uploading…');
    try {
      const answer = await upload(path, fd, (f) => {
        if (f === null) bar.busy(waiting);
        else bar.set(f, `Uploading… ${Math.round(f * 100)}%`);
      });
      bar.hide();
      prompt.value = '';
      rec.clear();
      return answer;
    } catch (x) {
      bar.hide();
      err.show(x.message);
      // the drawing was saved although its edit failed: show it in the gallery
      if (x.body && x.body.drawing_id && onSaved) onSaved(x.body.drawing_id);
      return null;
    } finally {
      setBusy(false);
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (busy) return;
    if (rec.recording()) await rec.toggle();
    const text = prompt.value.trim();
    const audio = rec.state.blob;
    if (isNew && !file) return err.show('Choose a drawing first (or drop one on the box).');
    if (!text && !audio) return err.show('Type a prompt, or record one with Record.');
    const fd = new FormData();
    let path;
    if (isNew) fd.append(audio ? 'image' : 'file', file, file.name || 'drawing');
    if (audio) {
      fd.append('audio', audio, 'prompt.' + (audio.type.includes('ogg') ? 'ogg' : audio.type.includes('mp4') ? 'm4a' : 'webm'));
      fd.append('language', 'en');
      path = isNew ? '/api/edit-image-with-audio' : `/api/drawings/${drawingId}/edits`;
    } else {
      fd.append('prompt', text);
      path = isNew ? '/api/edit-image' : `/api/drawings/${drawingId}/edits`;
    }
    const answer = await send(path, fd, audio ? 'Listening and editing…' : 'Editing…');
    if (answer) onDone(answer);
  });

  if (saveBtn) {
    saveBtn.addEventListener('click', async () => {
      if (busy) return;
      if (!file) return err.show('Choose a drawing first (or drop one on the box).');
      const fd = new FormData();
      fd.append('file', file, file.name || 'drawing');
      const answer = await send('/api/drawings', fd, 'Saving…');
      if (answer) onDone({ drawing_id: answer.id });
    });
  }
  return form;
}
