// The dashboard's table of sittings (dashboard.js): one row per sitting with its status icon, whose meaning
// shows on hover (title) and is read by screen readers; in certify mode a checkbox selects the sitting on the server.
// The test taker, taken at and score columns sort the table (on the server, the order kept in the URL).
//
// Names are text in <bdi dir="auto">, so an Arabic or Hebrew name lays out right to left within its cell.

import {number, utcMinute} from "./format.js";
import {html} from "./view.js";

const REASONS = {
  LOW_SCORE: "low score",
  PHOTO_PROBLEM: "photo problem",
  EXPIRED: "expired",
};

/** {icon, label, meaning, blank} of a sitting's status: the label is shown (unless blank), the meaning on hover. */
export function statusOf(sitting) {
  switch (sitting.status) {
    case "CERTIFIED":
      if (sitting.certificate?.status === "REVOKED") {
        return {icon: "✕", label: "Revoked", meaning: "Certificate revoked; open it to see when and why"};
      }
      return {icon: "✓", label: "Certified", meaning: "Certificate granted: issued; open it to view and download"};
    case "IN_PROGRESS":
      return {icon: "◔", label: "In process",
        meaning: "Certificate granted, in process: the test taker must complete certification"};
    case "SELECTED":
      return {icon: "☑", label: "Selected", meaning: "Sitting selected: certified when you press Done and confirm"};
    case "INELIGIBLE": {
      const reason = REASONS[sitting.ineligibilityReason] || "not eligible";
      return {icon: "⊘", label: `Cannot: ${reason}`, meaning: `Cannot be certified: ${reason}`};
    }
    default:
      return {icon: "", label: "Not selected", meaning: "Not selected: eligible for certification", blank: true};
  }
}

export function StatusIcon({sitting}) {
  const {icon, label, meaning, blank} = statusOf(sitting);
  return html`
    <span class=${`status s-${sitting.status}${sitting.certificate?.status === "REVOKED" ? " revoked" : ""}`}
      title=${meaning} data-status=${sitting.status}>
      <span class="icon" aria-hidden="true">${icon}</span>
      <span class=${blank ? "label visually-hidden" : "label"} aria-hidden="true">${label}</span>
      <span class="visually-hidden">${meaning}</span>
    </span>`;
}

function scoreOf(sitting) {
  const scale = sitting.test.scoreMax == null ? "" : ` / ${number(sitting.test.scoreMax)}`;
  return `${number(sitting.score)}${scale}`;
}

const SELECTABLE = ["UNSELECTED", "SELECTED"];

function Row({sitting, certifying, busy, onToggle, onOpen}) {
  const name = sitting.testTaker.name;
  const opens = sitting.status === "CERTIFIED" && sitting.certificate;
  return html`
    <tr data-id=${sitting.id} data-status=${sitting.status}>
      ${certifying && html`<td class="pick">
        ${SELECTABLE.includes(sitting.status)
          ? html`<input type="checkbox" class="select" aria-label=${`Select ${name}`} checked=${sitting.status === "SELECTED"}
              disabled=${busy} onChange=${(event) => onToggle(sitting, event.currentTarget.checked)} />`
          : ""}
      </td>`}
      <td class="taker"><bdi dir="auto" class="name">${name}</bdi><span class="email">${sitting.testTaker.email}</span></td>
      <td class="test"><bdi dir="auto">${sitting.test.name}</bdi></td>
      <td class="taken">${utcMinute(sitting.takenAt)}</td>
      <td class="score">${scoreOf(sitting)}</td>
      <td class="state">
        ${opens
          ? html`<button type="button" class="open-certificate" aria-label=${`${statusOf(sitting).label}: open the certificate of ${name}`}
              title="Open the certificate" onClick=${() => onOpen(sitting)}><${StatusIcon} sitting=${sitting} /></button>`
          : html`<${StatusIcon} sitting=${sitting} />`}
      </td>
    </tr>`;
}

const COLUMNS = [
  // column, heading, the direction of a first click (null: does not sort), what that order reads as
  ["name", "Test taker", false, ["A to Z", "Z to A"]],
  ["test", "Test", null],
  ["taken", "Taken at", true, ["oldest first", "newest first"]],
  ["score", "Score", true, ["lowest first", "highest first"]],
  ["status", "Status", null],
];

/** A column's heading: a button that sorts by it (again: the other way), its order in aria-sort. */
function Heading({column, heading, descendingFirst, words, sort, onSort}) {
  if (descendingFirst == null) return html`<th scope="col">${heading}</th>`;
  const active = sort.column === column;
  const next = {column, descending: active ? !sort.descending : descendingFirst};
  const arrow = active ? (sort.descending ? "▼" : "▲") : "↕";
  return html`
    <th scope="col" class="sortable" aria-sort=${active ? (sort.descending ? "descending" : "ascending") : undefined}>
      <button type="button" class="sort" id=${`sort-${column}`} title=${`Sort by ${heading.toLowerCase()}, ${words[Number(next.descending)]}`}
        onClick=${() => onSort(next)}>${heading}<span class="arrow" aria-hidden="true">${arrow}</span></button>
    </th>`;
}

/** The page of sittings; ``page`` is {items, total, loaded}; ``sort`` {column, descending}. */
export function SittingsTable({page, certifying, busy, sort, onSort, onToggle, onOpen}) {
  if (page.loaded && !page.items.length) {
    return html`<p class="empty" id="no-sittings">No sitting matches these filters.</p>`;
  }
  return html`
    <div class="table-wrap">
      <table class="sittings" id="sittings">
        <caption class="visually-hidden">The organisation's sittings</caption>
        <thead>
          <tr>
            ${certifying && html`<th scope="col" class="pick"><span class="visually-hidden">Selected</span></th>`}
            ${COLUMNS.map(([column, heading, descendingFirst, words]) => html`<${Heading} key=${column} column=${column}
              heading=${heading} descendingFirst=${descendingFirst} words=${words} sort=${sort} onSort=${onSort} />`)}
          </tr>
        </thead>
        <tbody>
          ${page.items.map((sitting) => html`<${Row} key=${sitting.id} sitting=${sitting} certifying=${certifying}
            busy=${busy} onToggle=${onToggle} onOpen=${onOpen} />`)}
        </tbody>
      </table>
    </div>`;
}

const REVOKED = {status: "CERTIFIED", certificate: {status: "REVOKED"}};

/**
 * The counts by status of the whole organisation, each with its icon; ``stats.revoked`` of the CERTIFIED
 * sittings have their certificate revoked (the sitting stays CERTIFIED, docs/RULES.md): counted apart.
 */
export function StatusCounts({stats}) {
  if (!stats) return html`<p class="counts" id="counts">Counting…</p>`;
  const count = Object.fromEntries(stats.byStatus.map((entry) => [entry.status, entry.count]));
  const revoked = stats.revoked || 0;
  count.CERTIFIED = Math.max(0, (count.CERTIFIED || 0) - revoked);
  const revokedItem = {...statusOf(REVOKED), meaning: "Certificate revoked: it no longer verifies; its row says when and why"};
  const shown = [
    ["CERTIFIED", "certified"],
    ["REVOKED", "revoked"],
    ["IN_PROGRESS", "in process"],
    ["SELECTED", "selected"],
    ["UNSELECTED", "not selected"],
    ["INELIGIBLE", "cannot be certified"],
  ];
  return html`
    <ul class="counts" id="counts" aria-label="Sittings by status">
      ${shown.map(([status, words]) => {
        const {icon, meaning} = status === "REVOKED" ? revokedItem : statusOf({status});
        const look = status === "REVOKED" ? "s-CERTIFIED revoked" : `s-${status}`;
        return html`
        <li key=${status} data-status=${status} title=${meaning}>
          <span class=${`status ${look}`}><span class="icon" aria-hidden="true">${icon}</span></span>
          <strong class="count">${number(status === "REVOKED" ? revoked : count[status] || 0)}</strong> ${words}
        </li>`;
      })}
    </ul>`;
}
