// The parts of the review desk (review.js): the queue's list, one claim beside its sitting, the shortcuts.
//
// Names are shown as text in <bdi dir="auto">, so an Arabic or Hebrew name lays out right to left,
// isolated within the page's left-to-right lines and kept beside its label.

import {useEffect, useLayoutEffect, useRef, useState} from "../vendor/preact/hooks.js";
import {number, utcMinute} from "./format.js";
import {html} from "./view.js";

function when(iso) {
  return utcMinute(iso);
}

function scoreOf(sitting) {
  const scale = sitting.test.scoreMax == null ? "" : ` / ${number(sitting.test.scoreMax)}`;
  return `${number(sitting.score)}${scale}${sitting.level ? ` (${sitting.level})` : ""}`;
}

/** A signed file URL as a path on this origin: the page's policy loads images from here only. */
function sameOrigin(url) {
  if (!url) return "";
  const parsed = new URL(url, location.href);
  return parsed.pathname + parsed.search;
}

function countWords(queue, view) {
  if (!queue.loaded) return "Loading…";
  const count = queue.total === 1 ? "1 claim" : `${queue.total} claims`;
  return view.search ? `${count} ${queue.total === 1 ? "matches" : "match"} “${view.search}”` : `${count} to review`;
}

function QueueTools({view, searchText, onSearch, searchField, onNewestFirst}) {
  const onKey = (event) => {
    if (event.key === "Escape") event.currentTarget.blur(); // back to the shortcuts
  };
  return html`
    <form class="queue-tools" role="search" onSubmit=${(event) => event.preventDefault()}>
      <label for="queue-search">Find a claim by name <kbd>/</kbd></label>
      <input id="queue-search" ref=${searchField} type="text" autocomplete="off" dir="auto" maxlength="200"
        value=${searchText} onInput=${(event) => onSearch(event.currentTarget.value)} onKeyDown=${onKey} />
      <label><input id="newest-first" type="checkbox" checked=${view.newestFirst}
        onChange=${(event) => onNewestFirst(event.currentTarget.checked)} /> Newest first</label>
    </form>`;
}

export function ClaimList(props) {
  const {queue, view, selectedId, onSelect, onMore, loadError, onShowNew} = props;
  const unseen = queue.unseen === 1 ? "1 new claim" : `${queue.unseen} new claims`;
  return html`
    <nav class="queue" aria-label="Review queue">
      <h2 id="queue-count">${countWords(queue, view)}</h2>
      <${QueueTools} ...${props} />
      ${loadError && html`<p class="notice error" role="alert">${loadError}</p>`}
      ${queue.unseen > 0 && html`<button type="button" class="more" id="show-new" onClick=${onShowNew}>
        ${unseen} not shown — show newest first</button>`}
      <ol class="claims" id="claims">
        ${queue.items.map((claim, index) => html`
          <li key=${claim.id}>
            <button type="button" id=${`claim-${index}`} class="claim-row" data-id=${claim.id}
              aria-current=${claim.id === selectedId ? "true" : undefined} onClick=${() => onSelect(claim.id)}>
              <span class="row-name"><bdi dir="auto">${claim.holderName}</bdi></span>
              <span class="row-facts"><span>${claim.sitting.test.name}</span>
                <span>${claim.renderError ? "render failed" : when(claim.submittedAt)}</span></span>
            </button>
          </li>`)}
      </ol>
      ${queue.hasNextPage && html`<button type="button" class="more" onClick=${onMore}>Load more claims</button>`}
    </nav>`;
}

function Facts({claim}) {
  const {sitting} = claim;
  return html`
    <dl class="facts">
      <dt>Name to print</dt><dd class="holder-name"><bdi dir="auto" id="holder-name">${claim.holderName}</bdi></dd>
      <dt>Test taker (as registered)</dt><dd><bdi dir="auto" id="test-taker-name">${sitting.testTaker.name}</bdi></dd>
      <dt>Test</dt><dd><bdi dir="auto" id="test-name">${sitting.test.name}</bdi></dd>
      <dt>Score</dt><dd id="score">${scoreOf(sitting)}</dd>
      <dt>Taken at</dt><dd id="taken-at">${when(sitting.takenAt)}</dd>
      <dt>Organisation</dt><dd><bdi dir="auto">${sitting.organisation.name}</bdi></dd>
      <dt>Claim submitted</dt><dd>${when(claim.submittedAt)}</dd>
    </dl>`;
}

function RejectForm({reasonField, busy, onReject, onCancel}) {
  const [reason, setReason] = useState("");
  useLayoutEffect(() => reasonField.current?.focus(), [reasonField]);
  const submit = (event) => {
    event.preventDefault();
    onReject(reason);
  };
  const onKey = (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      onCancel();
    }
  };
  return html`
    <form class="reject" id="reject-form" onSubmit=${submit}>
      <label for="reason">Reason for the rejection (the test taker reads it)</label>
      <input id="reason" ref=${reasonField} type="text" maxlength="1000" autocomplete="off" dir="auto"
        value=${reason} onInput=${(event) => setReason(event.currentTarget.value)} onKeyDown=${onKey} />
      <div class="actions">
        <button type="submit" class="danger" disabled=${busy}>Reject</button>
        <button type="button" onClick=${onCancel}>Cancel <kbd>Esc</kbd></button>
      </div>
    </form>`;
}

export function ClaimDetail(props) {
  const {claim, busy, error, rejecting, settled, reasonField, onPhotoFailed, onApprove, onStartReject, onCancelReject, onReject} =
    props;
  const [photoFailed, setPhotoFailed] = useState(false);
  useEffect(() => setPhotoFailed(false), [claim.photoUrl]);
  const retry = claim.status === "APPROVED";
  return html`
    <article class="claim" id="claim" data-id=${claim.id} data-settled=${settled ? "true" : undefined} key=${claim.id}>
      <h2><bdi dir="auto">${claim.holderName}</bdi></h2>
      <div class="side-by-side">
        <figure class="photo">
          ${claim.photoUrl && !photoFailed
            ? html`<img id="photo" src=${sameOrigin(claim.photoUrl)} alt=${`Photo submitted by ${claim.holderName}`}
                onError=${() => setPhotoFailed(onPhotoFailed(claim.photoUrl))} />`
            : html`<p class="no-photo">The photo could not be loaded. Press Refresh to try again.</p>`}
        </figure>
        <${Facts} claim=${claim} />
      </div>
      ${claim.renderError && html`<p class="notice error">Approved, but the certificate could not be rendered:
        ${claim.renderError}. Approve again to retry.</p>`}
      ${error && html`<p class="notice error" role="alert" id="claim-error">${error}</p>`}
      ${rejecting
        ? html`<${RejectForm} key=${claim.id} reasonField=${reasonField} busy=${busy}
            onReject=${onReject} onCancel=${onCancelReject} />`
        : html`<div class="actions">
            <button type="button" class="primary" id="approve" disabled=${busy} aria-keyshortcuts="a"
              onClick=${onApprove}>${retry ? "Retry the render" : "Approve"} <kbd>a</kbd></button>
            <button type="button" class="danger" id="reject" disabled=${busy || retry} aria-keyshortcuts="r"
              onClick=${onStartReject}>Reject… <kbd>r</kbd></button>
          </div>`}
      <p class="hint keys"><kbd>j</kbd> <kbd>k</kbd> next and previous claim · <kbd>?</kbd> every shortcut</p>
    </article>`;
}

const SHORTCUTS = [
  ["j or ↓", "next claim"],
  ["k or ↑", "previous claim"],
  ["a", "approve the selected claim (once it has been shown for a moment)"],
  ["r", "reject it: type the reason, then Enter"],
  ["Esc", "leave the reason without rejecting"],
  ["/", "find a claim by name (Esc leaves the field)"],
  ["?", "this list"],
];

export function HelpDialog({open, onClose}) {
  const dialog = useRef(null);
  useEffect(() => {
    const element = dialog.current;
    if (open && !element.open) element.showModal();
    if (!open && element.open) element.close();
  }, [open]);
  return html`
    <dialog ref=${dialog} id="help" aria-labelledby="help-title" onClose=${onClose}>
      <h2 id="help-title">Keyboard shortcuts</h2>
      <dl class="shortcuts">
        ${SHORTCUTS.map(([keys, what]) => html`<dt><kbd>${keys}</kbd></dt><dd>${what}</dd>`)}
      </dl>
      <form method="dialog"><button type="submit" class="primary">Close</button></form>
    </dialog>`;
}
