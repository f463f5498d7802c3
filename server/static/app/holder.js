// What the holder's pages share (claim.js, certificate.js, me.js): the ID in the shell, sign-in as a test taker,
// a GraphQL multipart request for the claim's photo, and the download links of an issued certificate.

import {useEffect, useState} from "../vendor/preact/hooks.js";
import {ApiError} from "./api.js";
import {number} from "./format.js";
import {currentSession, onSessionChange, signOutRefused, startSession, tokenAccepted} from "./session.js";
import {WrongRole} from "./gate.js";
import {SignIn, html} from "./view.js";

const shell = document.getElementById("app");

/** What the shell says: {page, id, publicUrl, ttl, photoMaxBytes, photoMinSide, photoMaxPixels} (the ID of the path, checked by the server). */
export const SHELL = {
  page: shell.dataset.page,
  id: shell.dataset.id,
  publicUrl: shell.dataset.publicUrl,
  ttl: shell.dataset.ttl,
  photoMaxBytes: Number(shell.dataset.photoMaxBytes),
  photoMinSide: Number(shell.dataset.photoMinSide),
  photoMaxPixels: Number(shell.dataset.photoMaxPixels),
};

/** The server refused the upload as a whole (413, 408, 400…) before GraphQL ran: ``status`` and its words. */
export class UploadRefused extends ApiError {
  constructor(status, message, code) {
    super(message || `The server answered ${status}.`, code);
    this.status = status;
  }
}

/**
 * Send ``query`` as a GraphQL multipart request (the spec's operations, map and one file part per upload).
 * ``files`` maps a variable path ("variables.input.photo") to a File. Its ``data``; throws ApiError
 * (UploadRefused when the server refuses the request before GraphQL runs).
 */
export async function graphqlUpload(query, variables, files) {
  const session = currentSession();
  if (!session) throw new ApiError("You are not signed in.", "UNAUTHENTICATED");
  const body = new FormData();
  const paths = Object.keys(files);
  body.append("operations", JSON.stringify({query, variables}));
  body.append("map", JSON.stringify(Object.fromEntries(paths.map((path, index) => [String(index), [path]]))));
  paths.forEach((path, index) => body.append(String(index), files[path]));
  let response;
  try {
    response = await fetch("/graphql", {method: "POST", headers: {Authorization: `Bearer ${session.token}`}, body});
  } catch {
    throw new ApiError("Your claim could not be sent: the server could not be reached. Try again in a moment.", "NETWORK");
  }
  let answer;
  try {
    answer = await response.json();
  } catch {
    if (!response.ok) throw new UploadRefused(response.status);
    throw new ApiError(`The server answered ${response.status} without a readable reply.`, "HTTP");
  }
  const errors = answer.errors || [];
  const unauthenticated = errors.find((error) => error.extensions?.code === "UNAUTHENTICATED");
  if (unauthenticated || response.status === 401) {
    signOutRefused(unauthenticated?.message);
    throw new ApiError("Your token was refused.", "UNAUTHENTICATED");
  }
  if (!response.ok) throw new UploadRefused(response.status, errors[0]?.message, errors[0]?.extensions?.code);
  tokenAccepted(session.token);
  if (errors.length) throw new ApiError(errors[0].message, errors[0].extensions?.code);
  return answer.data;
}

const ENDED = /[.!?…。！？؟۔][\p{Pf}\p{Pe}"']*$/u;

/** ``text`` as a sentence of its own: its first letter a capital, and a full stop unless it ends with one. */
export function sentence(text) {
  const trimmed = String(text ?? "").trim();
  if (!trimmed) return "";
  const capital = trimmed[0].toUpperCase() + trimmed.slice(1);
  return ENDED.test(capital) ? capital : `${capital}.`;
}

const INELIGIBLE = {
  LOW_SCORE: "No certificate: the score is below what this test certifies.",
  PHOTO_PROBLEM: "No certificate: the photo check at the test did not pass. Ask your test centre about it.",
  EXPIRED: "No certificate: the time this result counts for has ended.",
};

/** Why a sitting has no certificate, as My certificates and the claim page both say it. */
export function noCertificateWords(sitting) {
  if (sitting.status === "INELIGIBLE") return INELIGIBLE[sitting.ineligibilityReason] || "No certificate.";
  return "No certificate yet: your test centre has not certified this result.";
}

/** A sitting's score as the certificate prints it: "80 / 100 (B2)", "80" on a scale without a maximum. */
export function scoreText(sitting) {
  const scale = sitting.test.scoreMax == null ? "" : ` / ${number(sitting.test.scoreMax)}`;
  return `${number(sitting.score)}${scale}${sitting.level ? ` (${sitting.level})` : ""}`;
}

/** The signed-in session, kept up to date (null when signed out). */
export function useSession() {
  const [session, setSession] = useState(startSession);
  useEffect(() => onSessionChange(setSession), []);
  return session;
}

const HOLDER_HELP = "The e-mail we sent you about your result has a link that signs you in: open this page from it. "
  + "If you were given an access token instead, paste it here.";

/** The page for a session: the sign-in form, a word for a token that is not a test taker's, or ``children``. */
export function HolderGate({title, purpose, session, children}) {
  if (!session) return html`<${SignIn} title=${title} purpose=${purpose} help=${HOLDER_HELP} />`;
  if (session.claims.role !== "test_taker") {
    return html`<${WrongRole} title=${title} session=${session}
      message="This page is for the person who took the test: sign in with the account you took it with." />`;
  }
  return children;
}

/** The way from one certificate's page to all of the test taker's (``/me``), for the session bar. */
export function ToMyCertificates() {
  return html`<a class="button" id="to-my-certificates" href="/me">My certificates</a>`;
}

/**
 * ``url`` (a signed file URL, on CERTIFY_PUBLIC_URL) as a link of this page's origin: a browser saves a link's
 * file under its ``download`` name only from the page's own origin, and this server serves /files/ wherever
 * the page was opened from.
 */
function sameOrigin(url) {
  const parsed = new URL(url, location.href);
  return parsed.origin === location.origin ? parsed.href : `${parsed.pathname}${parsed.search}`;
}

/** The links of an issued (or revoked) certificate: its PDF and PNG saved, or viewed, and where anyone can check it. */
export function Downloads({certificate}) {
  const verify = `${SHELL.publicUrl}/verify/${certificate.verificationCode}`;
  const name = `certificate-${certificate.verificationCode}`;
  const pdf = sameOrigin(certificate.pdfUrl);
  const png = sameOrigin(certificate.pngUrl);
  return html`
    <section id="downloads" class="downloads" aria-labelledby="downloads-title">
      <h2 id="downloads-title">Your certificate</h2>
      <p>Your certificate for <bdi dir="auto" id="test-name">${certificate.sitting.test.name}</bdi>,
        issued to <bdi dir="auto" id="holder-name">${certificate.holderName}</bdi>.</p>
      <ul class="download-links">
        <li><a id="pdf-link" href=${pdf} download=${`${name}.pdf`}>Download the PDF</a></li>
        <li><a id="png-link" href=${png} download=${`${name}.png`}>Download the image (PNG)</a></li>
      </ul>
      <p class="view-links">${"Or view them in a new tab: "}<a id="pdf-view" href=${pdf} target="_blank" rel="noopener">the PDF</a>${", "}<a
        id="png-view" href=${png} target="_blank" rel="noopener">the image</a>.</p>
      <p class="hint">These download links work for ${SHELL.ttl}; open this page again for new ones.</p>
      <p>Anyone can check that it is genuine at <a id="verify-link" href=${verify}>${verify}</a>.</p>
    </section>`;
}
