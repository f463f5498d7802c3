// Who is signed in: the bearer token, from the URL fragment on arrival, else this tab's sessionStorage.
//
// The token is never put in a cookie or a query string: the fragment never
// reaches a server, and it is removed from the address bar at once. Signing
// out (or an expired or refused token) clears it and shows the sign-in form
// with a message saying why. A token the page cannot read as a sign-in token
// (garbage, a cut-off copy, no role this service knows, already expired) is
// never kept: the sign-in form says what is wrong with it, in words.

import {utcMinute} from "./format.js";

const TOKEN_KEY = "certify.token";
const MESSAGE_KEY = "certify.signInMessage";
const ACCEPTED_KEY = "certify.tokenAccepted"; // the end of the token the server last answered without refusing it
const listeners = new Set();
const ROLES = ["security_reviewer", "platform_admin", "org_admin", "analyst", "test_taker"];
const NOT_VALID = "This token is not valid:";

function decodeSegment(segment) {
  const base64 = segment.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** The token's claims as far as the page needs them ({sub, role, exp}), or null for a token it cannot read. */
export function claimsOf(token) {
  try {
    const claims = decodeSegment(token.split(".")[1]);
    return typeof claims === "object" && claims !== null ? claims : null;
  } catch {
    return null;
  }
}

/**
 * Why ``token`` cannot sign anyone in, as the sign-in form says it ("" when it can). The server checks its
 * signature; this catches what the page can see for itself, before it shows anyone as signed in.
 */
export function tokenProblem(token) {
  const claims = token.split(".").length === 3 ? claimsOf(token) : null;
  if (!claims) return `${NOT_VALID} it is not a sign-in token. Check that you copied all of it, or ask for a new one.`;
  if (typeof claims.sub !== "string" || !claims.sub) return `${NOT_VALID} it names nobody. Ask for a new one.`;
  if (!ROLES.includes(claims.role)) return `${NOT_VALID} it gives no role this service knows. Ask for a new one.`;
  if (typeof claims.exp !== "number") return `${NOT_VALID} it has no expiry time. Ask for a new one.`;
  if (claims.exp * 1000 <= Date.now()) return `This token expired on ${utcMinute(new Date(claims.exp * 1000))}. Sign in with a new one.`;
  return "";
}

/** Keep ``token`` as this tab's session, or forget any session and leave the form its problem; the problem. */
function keep(token) {
  const problem = tokenProblem(token);
  if (problem) {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.setItem(MESSAGE_KEY, problem);
    document.documentElement.dataset.signedOutBy = "token";
  } else {
    if (sessionStorage.getItem(ACCEPTED_KEY) !== token.slice(-24)) sessionStorage.removeItem(ACCEPTED_KEY);
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.removeItem(MESSAGE_KEY);
  }
  return problem;
}

function takeFragmentToken() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const given = fragment.get("access_token");
  if (given !== null) {
    keep(given.trim());
    history.replaceState(null, "", location.pathname + location.search);
  }
  return given !== null;
}

let expiryTimer = null;

function armExpiry(token) {
  clearTimeout(expiryTimer);
  const claims = claimsOf(token);
  if (!claims || typeof claims.exp !== "number") return;
  // The server ends the websocket (4401) and refuses requests at exp; this catches an idle page.
  const wait = Math.max(0, claims.exp * 1000 - Date.now()) + 3000;
  expiryTimer = setTimeout(() => signOut("Your session has expired. Sign in again.", "clock"), Math.min(wait, 2 ** 31 - 1));
}

/** The current session: {token, claims} or null when nobody is signed in. */
export function currentSession() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return null;
  return {token, claims: claimsOf(token) || {}};
}

/** The message the last sign-out left for the sign-in form ("" if none). */
export function signInMessage() {
  return sessionStorage.getItem(MESSAGE_KEY) || "";
}

/** Call ``listener(session)`` whenever someone signs in or out. */
export function onSessionChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function changed() {
  const session = currentSession();
  for (const listener of listeners) listener(session);
}

/** Sign in with ``token`` (typed into the form); one the page cannot read leaves its problem for the form. */
export function signIn(token) {
  if (!keep(token.trim())) armExpiry(token.trim());
  changed();
}

/** The server answered a request made with ``token`` without refusing it: a refusal later ends a session. */
export function tokenAccepted(token) {
  if (token && sessionStorage.getItem(TOKEN_KEY) === token) sessionStorage.setItem(ACCEPTED_KEY, token.slice(-24));
}

// What the server says of a token it refuses (server/auth.py), in the words of the person holding it: as the
// end of a session that was working, and as what is wrong with a token the server never accepted.
const REFUSALS = [
  [/expired/, "your session has expired", "it has expired. Sign in with a new one."],
  [
    /not valid yet/,
    "this token is not valid yet (check that this computer's clock is right)",
    "it is not valid yet. Check that this computer's clock is right.",
  ],
  [/signature|must be signed with/, "this token was not issued by this service", "it was not issued by this service. Ask for a new one."],
  [/\b(aud|iss) claim/, "this token was issued for another service", "it was issued for another service. Ask for a new one."],
  [
    /that does not exist/,
    "this token is for an account this service does not have",
    "it is for an account this service does not have. Ask for a new one.",
  ],
  [/unknown role/, "this token gives no role this service knows", "it gives no role this service knows. Ask for a new one."],
  [/sub claim/, "this token names nobody", "it names nobody. Ask for a new one."],
  [/needs an? '\w+' claim|has no '\w+' claim/, "this token is incomplete", "it is incomplete. Ask for a new one."],
  [
    /malformed|Authorization header/,
    "this token is not valid (it may be cut off or changed)",
    "it may be cut off or changed. Check that you copied all of it, or ask for a new one.",
  ],
];

function refusal(serverMessage) {
  return REFUSALS.find(([pattern]) => pattern.test(serverMessage || "")) || [null, "this token was refused", "the server refused it. Ask for a new one."];
}

/** Why the server refused the token, said for people ("this token was not issued by this service"). */
export function refusalWords(serverMessage) {
  return refusal(serverMessage)[1];
}

/** Whether the server accepted this tab's token before (after a sign-out by the live connection: the last one). */
function wasAccepted() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const accepted = sessionStorage.getItem(ACCEPTED_KEY);
  return token ? accepted === token.slice(-24) : accepted !== null;
}

/** Sign out after the server refused the token with ``serverMessage``: the form says why, in people's words. */
export function signOutRefused(serverMessage, cause = "http") {
  // A token the server never accepted in this tab was no session: the form says what is wrong with it.
  const accepted = wasAccepted();
  const message = accepted
    ? `You were signed out: ${refusalWords(serverMessage)}. Sign in again.`
    : `${NOT_VALID} ${refusal(serverMessage)[2]}`;
  if (!sessionStorage.getItem(TOKEN_KEY) && document.documentElement.dataset.signedOutBy === "websocket") {
    // The live connection was refused first (4403 gives no reason); this answer says why.
    sessionStorage.setItem(MESSAGE_KEY, message);
    document.documentElement.dataset.signedOutBy = cause;
    changed();
    return;
  }
  signOut(message, cause);
}

/** Forget the token and show the sign-in form with ``message``; ``cause`` names what ended the session. */
export function signOut(message = "", cause = "user") {
  if (!sessionStorage.getItem(TOKEN_KEY)) return;
  clearTimeout(expiryTimer);
  if (!wasAccepted()) sessionStorage.removeItem(ACCEPTED_KEY);
  sessionStorage.removeItem(TOKEN_KEY);
  if (message) sessionStorage.setItem(MESSAGE_KEY, message);
  else sessionStorage.removeItem(MESSAGE_KEY);
  document.documentElement.dataset.signedOutBy = cause;
  changed();
}

/** Start: take a token from the fragment, arm its expiry; the session (or null). */
export function startSession() {
  takeFragmentToken();
  // A sign-in link opened on the page already showing (only the fragment changes: no new load).
  window.addEventListener("hashchange", () => {
    if (!takeFragmentToken()) return;
    const session = currentSession();
    if (session) armExpiry(session.token);
    else clearTimeout(expiryTimer);
    changed();
  });
  const stored = sessionStorage.getItem(TOKEN_KEY);
  if (stored && tokenProblem(stored)) keep(stored); // e.g. it expired while the tab was closed
  const session = currentSession();
  if (session) armExpiry(session.token);
  return session;
}

/** "3 December 2026, 14:05 UTC" for the token's exp, as every page and message writes instants. */
export function expiryText(claims) {
  if (typeof claims.exp !== "number") return "";
  return utcMinute(new Date(claims.exp * 1000));
}
