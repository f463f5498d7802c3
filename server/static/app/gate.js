// What a page shows a signed-in person whose role has no business on it: who they are signed in as, why this
// page is not theirs, a way to sign in with another token, and a link to the page that is theirs.

import {signOut} from "./session.js";
import {SessionBar, html, roleName} from "./view.js";

const OWN_PAGES = {
  security_reviewer: ["/review", "Go to the review desk"],
  platform_admin: ["/review", "Go to the review desk"],
  org_admin: ["/dashboard", "Go to the dashboard"],
  analyst: ["/dashboard", "Go to the dashboard"],
  test_taker: ["/me", "Go to your certificates"],
};

function article(noun) {
  return /^[aeiou]/.test(noun) ? "an" : "a";
}

/** ``message`` (why the page is not for this role), the button that signs in afresh, and the role's own page. */
export function WrongRole({title, session, message}) {
  const [path, label] = OWN_PAGES[session.claims.role] || [];
  const role = roleName(session.claims.role);
  const own = path && path !== location.pathname;
  const another = () => signOut("Sign in with the token for this page.", "user");
  return html`
    <${SessionBar} title=${title} session=${session} />
    <main class="page wrong-role">
      <p class="notice error" role="alert" id="message">You are signed in as ${article(role)} ${role}. ${message}</p>
      <div class="actions">
        <button type="button" class="primary" id="sign-in-again" onClick=${another}>Sign in with another token</button>
        ${own && html`<a class="button" id="own-page" href=${path}>${label}</a>`}
      </div>
    </main>`;
}
