// Certify mode's bar and its confirmation (dashboard.js). The selection lives on the server (SELECTED sittings,
// docs/RULES.md "Selection"); confirmCertification certifies every SELECTED sitting of the organisation.
//
// The confirmation dialog makes one idempotency key when it opens and sends it with every attempt, so a double
// click or a retry after a network error certifies once (docs/RULES.md, "Idempotency").

import {useLayoutEffect, useRef, useState} from "../vendor/preact/hooks.js";
import {ApiError, graphql} from "./api.js";
import {number} from "./format.js";
import {html} from "./view.js";

const CONFIRM = `mutation ConfirmCertification($key: String!) {
  confirmCertification(input: {idempotencyKey: $key}) { certifiedCount creditsSpent creditBalance errors { code message } }
}`;

function plural(count, one, many) {
  return `${number(count)} ${count === 1 ? one : many}`;
}

const LEFT_OUT = [
  ["SELECTED", "is already selected", "are already selected"],
  ["IN_PROGRESS", "is in process", "are in process"],
  ["CERTIFIED", "is already certified", "are already certified"],
  ["INELIGIBLE", "cannot be certified", "cannot be certified"],
];

/** Which of the matching sittings "select all" leaves out, and why: "Of the 5 matching, 2 cannot be certified." */
function leftOut(matching) {
  const parts = LEFT_OUT.filter(([status]) => matching[status])
    .map(([status, one, many]) => `${number(matching[status])} ${matching[status] === 1 ? one : many}`);
  if (!parts.length) return "";
  const total = Object.values(matching).reduce((sum, count) => sum + count, 0);
  const last = parts.pop();
  return `Of the ${number(total)} matching, ${parts.length ? `${parts.join(", ")} and ${last}` : last}.`;
}

/**
 * How many are selected, what they cost, the balance after; select all matching (``matching``: the counts by
 * status of the sittings matching the filters, null while they are read), clear, Done.
 */
export function CertifyBar({selected, balance, matching, busy, onSelectMatching, onClear, onDone, onLeave}) {
  const after = balance == null ? null : balance - selected;
  const short = after != null && after < 0;
  const selectable = matching?.UNSELECTED || 0;
  const others = matching ? leftOut(matching) : "";
  const covered = balance == null ? null : Math.max(0, balance - selected); // what the credits left still cover
  return html`
    <section class="certify-bar" id="certify-bar" aria-label="Certification">
      <p class="summary" id="selection-summary" role="status">
        <strong>${plural(selected, "sitting", "sittings")} selected</strong>
        <span> · costs ${plural(selected, "credit", "credits")}</span>
        ${after != null && html`<span class=${short ? "error" : ""}> · balance after: ${number(after)}</span>`}
      </p>
      <div class="actions">
        ${matching && !selectable ? html`<span class="nothing-left" id="nothing-left">Nothing left to select</span>`
          : html`<button type="button" id="select-matching" disabled=${busy || !matching} onClick=${onSelectMatching}
          aria-describedby=${others ? "left-out" : undefined}>
          ${matching ? `Select all ${number(selectable)} matching` : "Select all matching"}</button>`}
        <button type="button" id="clear-selection" disabled=${busy || !selected} onClick=${onClear}>Clear selection</button>
        <button type="button" class="primary" id="done" disabled=${busy || !selected || short} onClick=${onDone}>Done…</button>
        <button type="button" id="leave-certify" onClick=${onLeave}>Leave certify mode</button>
      </div>
      ${matching && covered != null && selectable > covered && html`<p class="hint" id="credits-cover">
        Your ${plural(covered, "credit covers", "credits cover")} ${number(covered)} of them.</p>`}
      ${others && html`<p class="hint" id="left-out">${others}</p>`}
      ${short && html`<p class="notice error" id="short">
        <span id="short-text">Not enough credits: unselect ${plural(-after, "sitting", "sittings")} or buy more.</span>
        ${" "}<button type="button" id="clear-short" disabled=${busy} onClick=${onClear}>Clear selection</button>
      </p>`}
    </section>`;
}

/** The modal that says certifying cannot be undone; confirming sends one confirmCertification. */
export function ConfirmDialog({open, selected, balance, onClose, onCertified}) {
  const dialog = useRef(null);
  const key = useRef("");
  const inFlight = useRef(false);
  const certified = useRef(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  // What the request is about, as it was when the dialog opened: the live count drops once the server certifies.
  const [asked, setAsked] = useState(null);
  useLayoutEffect(() => {
    const element = dialog.current;
    if (open && !element.open) {
      key.current = crypto.randomUUID();
      setAsked({selected, balance});
      setError("");
      element.showModal();
    }
    if (!open && element.open) {
      element.close();
      setAsked(null);
      // The Done button the dialog gives focus back to is disabled once certified: the outcome takes it.
      if (certified.current) document.getElementById("outcome")?.focus();
    }
    certified.current = false;
  }, [open]);
  const confirm = async () => {
    if (inFlight.current) return;
    inFlight.current = true;
    setBusy(true);
    setError("");
    try {
      const payload = (await graphql(CONFIRM, {key: key.current})).confirmCertification;
      if (payload.errors.length) {
        setError(`Nothing was certified: ${payload.errors[0].message}`);
        return;
      }
      certified.current = true;
      onCertified(payload);
    } catch (failure) {
      const message = failure instanceof ApiError ? failure.message : String(failure);
      // The same key goes with the retry: if the first attempt did certify, the server answers its result again.
      setError(`${message} Press Certify again to retry; nothing is certified twice.`);
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  };
  const shown = asked || {selected, balance}; // (until the effect that opens it has kept them)
  return html`
    <dialog ref=${dialog} id="confirm" aria-labelledby="confirm-title" aria-describedby="confirm-text"
      onClose=${onClose} onCancel=${(event) => busy && event.preventDefault()}>
      <h2 id="confirm-title">Certify ${plural(shown.selected, "sitting", "sittings")}?</h2>
      <p id="confirm-text">This spends ${plural(shown.selected, "credit", "credits")}${shown.balance == null
        ? "" : ` (balance after: ${number(shown.balance - shown.selected)})`} and <strong>cannot be undone</strong>: each test
        taker is asked to claim their certificate.</p>
      ${error && html`<p class="notice error" role="alert" id="confirm-error">${error}</p>`}
      <div class="actions">
        <button type="button" class="primary" id="confirm-certify" disabled=${busy} onClick=${confirm}>
          ${busy ? "Certifying…" : "Certify"}</button>
        <button type="button" id="confirm-cancel" disabled=${busy} onClick=${onClose}>Cancel</button>
      </div>
    </dialog>`;
}
