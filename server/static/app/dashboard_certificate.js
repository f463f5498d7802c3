// A certified sitting's certificate (dashboard.js): the PNG preview, PDF and PNG downloads, the public
// verification link and, for the organisation's admins, revoke with a reason (irreversible: a confirmation step
// says so and repeats the reason first).
//
// File URLs are signed and short-lived, so they are asked for each time the dialog opens.

import {useEffect, useLayoutEffect, useRef, useState} from "../vendor/preact/hooks.js";
import {ApiError, graphql} from "./api.js";
import {utcMinute} from "./format.js";
import {html} from "./view.js";

const FIELDS = "id status holderName issuedAt revokedAt revocationReason verificationCode pdfUrl pngUrl";
const CERTIFICATE = `query DashboardCertificate($id: ID!) { node(id: $id) { ... on Certificate { ${FIELDS} } } }`;
const REVOKE = `mutation Revoke($id: ID!, $reason: String!) {
  revokeCertificate(input: {certificateId: $id, reason: $reason}) { certificate { ${FIELDS} } errors { code message } }
}`;

/** A signed file URL as a path on this origin: the page's policy loads images from here only. */
function sameOrigin(url) {
  const parsed = new URL(url, location.href);
  return parsed.pathname + parsed.search;
}

/** The step that confirms a revocation: it cannot be undone, and the holder reads this reason. */
function RevokeConfirmation({reason, busy, onConfirm, onBack}) {
  const keep = useRef(null);
  useLayoutEffect(() => keep.current?.focus(), []);
  return html`
    <div class="revoke-confirm" id="revoke-confirm" role="group" aria-labelledby="revoke-confirm-title"
      aria-describedby="revoke-confirm-text revoke-confirm-reason" onKeyDown=${(event) => event.key === "Escape" && !busy && (event.preventDefault(), onBack())}>
      <h3 id="revoke-confirm-title">Revoke this certificate?</h3>
      <p id="revoke-confirm-text">This <strong>cannot be undone</strong>: its verification page will say it is revoked,
        and the holder reads your reason:</p>
      <blockquote id="revoke-confirm-reason"><bdi dir="auto">${reason}</bdi></blockquote>
      <div class="actions">
        <button type="button" class="danger" id="revoke-confirm-button" disabled=${busy} onClick=${onConfirm}>
          ${busy ? "Revoking…" : "Revoke for good"}</button>
        <button type="button" id="revoke-back" ref=${keep} disabled=${busy} onClick=${onBack}>Keep the certificate</button>
      </div>
    </div>`;
}

function RevokeForm({certificate, onRevoked}) {
  const [reason, setReason] = useState("");
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const field = useRef(null);
  const ask = (event) => {
    event.preventDefault();
    if (!reason.trim()) {
      setError("Write the reason first: the holder reads it.");
      field.current?.focus();
      return;
    }
    setError("");
    setConfirming(true);
  };
  const button = useRef(null);
  const returning = useRef(false);
  useLayoutEffect(() => {
    // the form comes back in place of the confirmation: its button takes the focus the confirmation had
    if (returning.current) button.current?.focus();
    returning.current = false;
  }, [confirming]);
  const back = () => {
    returning.current = true;
    setConfirming(false);
  };
  const revoke = async () => {
    setBusy(true);
    setError("");
    try {
      const payload = (await graphql(REVOKE, {id: certificate.id, reason: reason.trim()})).revokeCertificate;
      if (payload.errors.length) setError(`Not revoked: ${payload.errors[0].message}`);
      else onRevoked(payload.certificate);
    } catch (failure) {
      setError(`Not revoked: ${failure instanceof ApiError ? failure.message : String(failure)}`);
    } finally {
      setBusy(false);
    }
  };
  const problem = error && html`<p class="notice error" role="alert" id="revoke-error">${error}</p>`;
  if (confirming) {
    return html`<${RevokeConfirmation} reason=${reason.trim()} busy=${busy} onConfirm=${revoke} onBack=${back} />${problem}`;
  }
  return html`
    <form class="revoke" id="revoke-form" onSubmit=${ask}>
      <label for="revoke-reason">Reason for revoking (the holder reads it; this cannot be undone)</label>
      <input id="revoke-reason" ref=${field} type="text" dir="auto" maxlength="1000" autocomplete="off" value=${reason}
        aria-describedby=${error ? "revoke-error" : undefined} onInput=${(event) => setReason(event.currentTarget.value)} />
      ${problem}
      <button type="submit" class="danger" id="revoke" ref=${button}>Revoke the certificate…</button>
    </form>`;
}

function Body({certificate, canRevoke, onRevoked}) {
  const verify = certificate.verificationCode ? `/verify/${encodeURIComponent(certificate.verificationCode)}` : "";
  return html`
    ${certificate.pngUrl && html`<img class="preview" id="certificate-preview" src=${sameOrigin(certificate.pngUrl)}
      alt=${`The certificate of ${certificate.holderName || "the holder"}`} />`}
    <dl class="facts">
      <dt>Holder</dt><dd><bdi dir="auto">${certificate.holderName || "—"}</bdi></dd>
      <dt>Issued</dt><dd>${utcMinute(certificate.issuedAt)}</dd>
      ${certificate.revokedAt && html`<dt>Revoked</dt><dd id="revoked" tabindex="-1">${
        `${utcMinute(certificate.revokedAt)}: `}<bdi dir="auto">${certificate.revocationReason}</bdi></dd>`}
    </dl>
    <p class="links">
      ${certificate.pdfUrl && html`<a id="download-pdf" href=${sameOrigin(certificate.pdfUrl)} download>Download PDF</a>`}
      ${certificate.pngUrl && html`<a id="download-png" href=${sameOrigin(certificate.pngUrl)} download>Download PNG</a>`}
      ${verify && html`<a id="verify-link" href=${verify} target="_blank" rel="noopener">Verification page</a>`}
    </p>
    ${canRevoke && certificate.status === "ISSUED" && html`<${RevokeForm} certificate=${certificate} onRevoked=${onRevoked} />`}`;
}

/** The certificate of ``sitting`` (null: closed) in a modal dialog. */
export function CertificateDialog({sitting, canRevoke, onClose}) {
  const dialog = useRef(null);
  const [certificate, setCertificate] = useState(null);
  const [error, setError] = useState("");
  const revokedNow = useRef(false);
  useLayoutEffect(() => {
    // the form (and its button) is gone once revoked: the focus goes to what the dialog now says
    if (revokedNow.current) document.getElementById("revoked")?.focus();
    revokedNow.current = false;
  }, [certificate]);
  const revoked = (next) => {
    revokedNow.current = true;
    setCertificate(next);
  };
  useEffect(() => {
    const element = dialog.current;
    if (!sitting) {
      if (element.open) element.close();
      return;
    }
    setCertificate(null);
    setError("");
    if (!element.open) element.showModal();
    graphql(CERTIFICATE, {id: sitting.certificate.id})
      .then((data) => (data.node ? setCertificate(data.node) : setError("This certificate cannot be read.")))
      .catch((failure) => setError(`The certificate could not be loaded: ${failure.message}`));
  }, [sitting]);
  return html`
    <dialog ref=${dialog} id="certificate" class="certificate" aria-labelledby="certificate-title" onClose=${onClose}>
      <h2 id="certificate-title">Certificate${sitting && html` of <bdi dir="auto">${sitting.testTaker.name}</bdi>`}</h2>
      ${error && html`<p class="notice error" role="alert">${error}</p>`}
      ${certificate
        ? html`<${Body} certificate=${certificate} canRevoke=${canRevoke} onRevoked=${revoked} />`
        : !error && html`<p role="status">Loading…</p>`}
      <form method="dialog"><button type="submit" id="certificate-close">Close</button></form>
    </dialog>`;
}
