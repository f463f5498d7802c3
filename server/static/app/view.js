// The view library the pages share (Preact with htm, vendored) and the parts every page shows:
// the sign-in form and the bar saying who is signed in.

import {h, render} from "../vendor/preact/preact.js";
import {useEffect, useLayoutEffect, useRef, useState} from "../vendor/preact/hooks.js";
import htm from "../vendor/htm/htm.js";
import {expiryText, onSessionChange, signIn, signInMessage, signOut} from "./session.js";

export const html = htm.bind(h);
export {render};

const ROLE_NAMES = {
  security_reviewer: "security reviewer",
  platform_admin: "platform admin",
  org_admin: "organisation admin",
  analyst: "analyst",
  test_taker: "test taker",
};

export function roleName(role) {
  return ROLE_NAMES[role] || String(role || "unknown role");
}

const STAFF_HELP = "Your organisation's sign-in gives you one.";

/**
 * The sign-in form: a bearer token, kept in this tab's sessionStorage. ``help`` says where the person gets one
 * (by default, as staff do); the development hint comes last, in small print.
 */
export function SignIn({title, purpose, help = STAFF_HELP}) {
  const [token, setToken] = useState("");
  // A token refused before anyone signs in (signIn keeps none) leaves its message without changing the session.
  const [message, setMessage] = useState(signInMessage);
  const said = document.documentElement.dataset.signedOutBy === "user" ? "notice" : "notice error";
  const field = useRef(null);
  useLayoutEffect(() => field.current?.focus(), []);
  useEffect(() => onSessionChange(() => setMessage(signInMessage())), []);
  const submit = (event) => {
    event.preventDefault();
    if (!token.trim()) return;
    signIn(token);
    setToken("");
    field.current?.focus();
  };
  return html`
    <main class="page sign-in" id="sign-in">
      <h1>${title}</h1>
      ${message && html`<p class=${said} role="alert" id="sign-in-message">${message}</p>`}
      <p>${purpose}</p>
      <form onSubmit=${submit}>
        <label for="token">Access token</label>
        <input id="token" ref=${field} type="password" autocomplete="off" spellcheck="false" required
          value=${token} onInput=${(event) => setToken(event.currentTarget.value)} />
        <p class="hint" id="token-help">${help}</p>
        <button type="submit" class="primary">Sign in</button>
      </form>
      <p class="hint dev-hint" id="dev-hint">For developers: <code>make run</code> prints a sign-in link per
        role, and <code>certify token</code> makes a token.</p>
    </main>`;
}

/** "Signed in as … until …" with a sign-out button, and ``children`` (the page's own controls). */
export function SessionBar({title, session, children}) {
  const {sub, role} = session.claims;
  const until = expiryText(session.claims);
  return html`
    <header class="bar">
      <h1>${title}</h1>
      <p class="who" id="who">
        Signed in as <bdi>${sub || "?"}</bdi> (${roleName(role)})${until && html`<span class="until">, until ${until}</span>`}
      </p>
      <div class="controls">
        ${children}
        <button type="button" onClick=${() => signOut("You signed out.")}>Sign out</button>
      </div>
    </header>`;
}
