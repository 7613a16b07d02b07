// auth.js - the sign-in and create-account screen.
import { register, signIn } from './api.js';
import { el, errorLine } from './ui.js';

// Renders into main; calls done(user) once signed in.
export function renderAuth(main, done, mode = 'signin') {
  const creating = mode === 'create';
  const email = el('input', { id: 'email', type: 'email', name: 'email', autocomplete: 'email', required: true });
  const password = el('input', {
    id: 'password', type: 'password', name: 'password', required: true, minlength: creating ? 8 : 1,
    autocomplete: creating ? 'new-password' : 'current-password',
  });
  const err = errorLine();
  const submit = el('button', { class: 'btn primary', type: 'submit' }, creating ? 'Create account' : 'Sign in');
  const form = el('form', { class: 'auth card', novalidate: true },
    el('h1', {}, creating ? 'Create your account' : 'Welcome back'),
    el('p', { class: 'lead' }, creating
      ? 'Keep every drawing and every edit in one place.'
      : 'Sign in to see your gallery.'),
    el('div', { class: 'field' }, el('label', { for: 'email' }, 'Email'), email),
    el('div', { class: 'field' }, el('label', { for: 'password' }, 'Password'), password,
      creating ? el('p', { class: 'hint' }, 'At least 8 characters.') : null),
    err.root,
    submit,
    el('p', { class: 'switch' }, creating ? 'Already have an account? ' : 'New here? ',
      el('button', {
        class: 'btn', type: 'button',
        onclick: () => renderAuth(main, done, creating ? 'signin' : 'create'),
      }, creating ? 'Use an existing account' : 'Create account')));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    if (!email.value.trim() || !password.value) {
      err.show('Enter your email and password.');
      return;
    }
    if (creating && password.value.length < 8) {
      err.show('The password needs at least 8 characters.');
      return;
    }
    submit.disabled = true;
    submit.textContent = creating ? 'Creating account…' : 'Signing in…';
    try {
      const user = creating ? await register(email.value, password.value)
        : await signIn(email.value, password.value);
      done(user);
    } catch (x) {
      err.show(x.message);
      submit.disabled = false;
      submit.textContent = creating ? 'Create account' : 'Sign in';
    }
  });
  main.replaceChildren(form);
  document.title = (creating ? 'Create account' : 'Sign in') + ' · NovaDraw';
  email.focus();
}
