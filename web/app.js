// app.js - the web app's entry: the session, the top bar, and hash routing
// (#/ the gallery, #/drawings/ID a drawing).
import { currentUser, session, setSignedOutHandler, signOut } from './api.js';
import { renderAuth } from './auth.js';
import { renderGallery } from './gallery.js';
import { errorLine } from './ui.js';

const main = document.getElementById('main');
const who = document.getElementById('who');
let cleanup = null;

function showUser(user) {
  who.hidden = !user;
  document.getElementById('who-email').textContent = user ? user.email || '' : '';
}

function signedOut() {
  showUser(null);
  if (cleanup) cleanup();
  cleanup = null;
  renderAuth(main, () => route());
}

async function route() {
  const user = currentUser();
  if (!user) return signedOut();
  showUser(user);
  if (cleanup) cleanup();
  cleanup = null;
  const m = /^#\/drawings\/([0-9a-f-]{36})$/.exec(location.hash);
  try {
    if (m) {
      const { renderDrawing } = await import('./drawing.js');
      cleanup = await renderDrawing(main, m[1]);
    } else {
      cleanup = await renderGallery(main);
    }
  } catch (x) {
    const e = errorLine();
    e.show(x.message || String(x));
    main.replaceChildren(e.root);
  }
  main.focus({ preventScroll: true });
}

document.getElementById('sign-out').addEventListener('click', async () => {
  await signOut();
  history.replaceState(null, '', '#/');
  signedOut();
});
setSignedOutHandler(signedOut);
window.addEventListener('hashchange', () => { window.scrollTo(0, 0); route(); });

// a session survives a reload: the cookie gives a new access token
session.then(route, (x) => {
  const e = errorLine();
  e.show(x.message);
  main.replaceChildren(e.root);
});
