// The dashboard (GET /dashboard): the organisation's sittings, filtered and paged by the server, live, and
// "certify" mode for its admins (analysts read it only).
//
// The page of sittings is live (dashboard_sittings.js). The credit balance follows creditBalanceChanged, the
// counts by status (the organisation's, and those of the sittings matching the filters, which say what "select
// all matching" would select) follow sittingStatusChanged. The filters, the order and the page live in the
// URL's query string (dashboard_url.js).

import {useCallback, useEffect, useRef, useState} from "../vendor/preact/hooks.js";
import {ApiError, graphql} from "./api.js";
import {CertificateDialog} from "./dashboard_certificate.js";
import {WrongRole} from "./gate.js";
import {CertifyBar, ConfirmDialog} from "./dashboard_certify.js";
import {Filters} from "./dashboard_filters.js";
import {Pager, useSittings} from "./dashboard_sittings.js";
import {SittingsTable, StatusCounts} from "./dashboard_table.js";
import {apiFilter, dateProblem, scoreProblem, useView} from "./dashboard_url.js";
import {number} from "./format.js";
import {subscribe} from "./live.js";
import {onSessionChange, startSession} from "./session.js";
import {SessionBar, SignIn, html, render} from "./view.js";

const OVERVIEW = `query DashboardOverview {
  viewer { organisation { id name creditBalance } }
  sittingAggregates(groupBy: [TEST]) { test { id name } }
}`;
const STATS = `query DashboardStats($filter: SittingFilter) {
  sittingStats { total byStatus { status count } }
  matching: sittingStats(filter: $filter) { total byStatus { status count } }
  revoked: sittingStats(filter: {status: [CERTIFIED], certificateStatus: [REVOKED]}) { total }
  viewer { organisation { creditBalance } }
}`;
const BALANCE = "subscription DashboardBalance { creditBalanceChanged { creditBalance } }";
const STATUS_CHANGES = "subscription DashboardStatusChanges { sittingStatusChanged { status } }";
const SELECT = `mutation Select($input: SittingSelectionInput!) { selectSittings(input: $input) { changedCount errors { code message } } }`;
const UNSELECT = `mutation Unselect($input: SittingSelectionInput!) { unselectSittings(input: $input) { changedCount errors { code message } } }`;
const DASHBOARD_ROLES = ["org_admin", "analyst"];

function countsOf(stats) {
  return Object.fromEntries(stats.byStatus.map((entry) => [entry.status, entry.count]));
}

/**
 * The overview (name, balance, tests, the counts by status of the organisation and of the sittings matching
 * ``filters``), read at once when the filters change and a moment after the changes that move it.
 */
function useOverview(filters) {
  const [overview, setOverview] = useState({organisation: null, stats: null, matching: null, tests: []});
  const [error, setError] = useState("");
  const timer = useRef(null);
  const asked = useRef(0);
  const filter = scoreProblem(filters.min, filters.max) || dateProblem(filters.from, filters.to) ? null : apiFilter(filters);
  const latest = useRef(filter);
  latest.current = filter;
  useEffect(() => {
    graphql(OVERVIEW)
      .then((data) => setOverview((old) => ({...old, organisation: {...data.viewer.organisation, ...old.organisation},
        tests: data.sittingAggregates.map((group) => group.test).filter(Boolean)})))
      .catch((failure) => failure.code !== "UNAUTHENTICATED" && setError(`The dashboard could not be loaded: ${failure.message}`));
  }, []);
  const read = useCallback(async () => {
    const ask = ++asked.current;
    const filter = latest.current;
    try {
      const data = await graphql(STATS, {filter: filter || {}});
      if (ask !== asked.current) return; // a newer answer is on its way
      setOverview((old) => ({...old, stats: {...data.sittingStats, revoked: data.revoked.total}, matching: filter && countsOf(data.matching),
        organisation: {...old.organisation, creditBalance: data.viewer.organisation.creditBalance}}));
    } catch {
      // the next change reads them again
    }
  }, []);
  const refresh = useCallback(() => {
    clearTimeout(timer.current);
    timer.current = setTimeout(read, 150);
  }, [read]);
  const key = JSON.stringify(filter);
  useEffect(() => {
    setOverview((old) => ({...old, matching: null}));
    read();
  }, [key]);
  const setBalance = useCallback((creditBalance) => setOverview((old) => ({...old,
    organisation: old.organisation && {...old.organisation, creditBalance}})), []);
  useEffect(() => () => clearTimeout(timer.current), []);
  return {overview, error, refresh, setBalance};
}

function selectedCount(stats) {
  return stats?.byStatus.find((entry) => entry.status === "SELECTED")?.count || 0;
}

function plural(count, one, many) {
  return `${number(count)} ${count === 1 ? one : many}`;
}

const MOVES = {
  SELECTED: ["selected", "Selected", "Show the selected sittings"],
  UNSELECTED: ["unselected", "Not selected", "Show the sittings not selected"],
};

/** What a selection change did, in words: how many, and where they went if the status filter hides them now. */
function movedNotice(changed, filters, target) {
  const [verb, label, show] = MOVES[target];
  const hidden = changed > 0 && filters.status.length > 0 && !filters.status.includes(target);
  const what = changed ? `${plural(changed, "sitting", "sittings")} ${verb}` : `No sitting was ${verb}`;
  const where = changed === 1 ? "it now shows" : "they now show";
  return {text: hidden ? `${what}; ${where} under “${label}”.` : `${what}.`, hidden, target, show};
}

function useSelection({filters, mark, refresh, onAction}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [notice, setNotice] = useState(null);
  const run = async (mutation, input, {undo, done} = {}) => {
    setBusy(true);
    setError("");
    setNotice(null);
    onAction();
    try {
      const payload = Object.values(await graphql(mutation, {input}))[0];
      if (payload.errors.length) {
        setError(payload.errors[0].message);
        undo?.();
      } else done?.(payload);
    } catch (failure) {
      setError(failure instanceof ApiError ? failure.message : String(failure));
      undo?.();
    } finally {
      setBusy(false);
      refresh();
    }
  };
  const filter = apiFilter(filters);
  const key = JSON.stringify(filter);
  useEffect(() => {
    setError("");
    setNotice(null);
  }, [key]);
  return {
    busy, error, notice,
    toggle: (sitting, on) => {
      // The box shows the change at once; the live page confirms it, or it is put back when refused.
      const target = on ? "SELECTED" : "UNSELECTED";
      mark(sitting.id, target);
      // A row the status filter no longer shows leaves the table: say where it went (and only then).
      const done = (payload) => {
        const moved = movedNotice(payload.changedCount, filters, target);
        if (moved.hidden) setNotice(moved);
      };
      return run(on ? SELECT : UNSELECT, {ids: [sitting.id]}, {undo: () => mark(sitting.id, sitting.status), done});
    },
    selectMatching: () => run(SELECT, Object.keys(filter).length ? {filter} : {all: true},
      {done: (payload) => setNotice(movedNotice(payload.changedCount, filters, "SELECTED"))}),
    clear: () => run(UNSELECT, {all: true}),
    forget: () => setNotice(null),
  };
}

function SelectionNotice({notice, onShow}) {
  return html`
    <div class="notice done selection-notice">
      <p role="status" id="selection-outcome">${notice?.text || ""}</p>
      ${notice?.hidden && html`<button type="button" id="show-selected" onClick=${() => onShow(notice.target)}>${notice.show}</button>`}
    </div>`;
}

function Results({sittings, admin, certifying, selection, sort, onSort, onOpen}) {
  const {page} = sittings;
  const heading = page.impossible ? "No sittings listed: correct the range above"
    : page.failed ? "The sittings could not be loaded"
      : page.loaded || sittings.pageNumber > 1 ? plural(page.total, "sitting", "sittings") : "Loading the sittings…";
  return html`
    <section class="results" aria-labelledby="matching">
      <h2 id="matching">${heading}</h2>
      ${!page.impossible && !page.failed && html`
        <${SittingsTable} page=${page} certifying=${admin && certifying} busy=${selection.busy}
          sort=${sort} onSort=${onSort} onToggle=${selection.toggle} onOpen=${onOpen} />
        <${Pager} page=${page} pageNumber=${sittings.pageNumber} onNext=${sittings.next} onPrevious=${sittings.previous} />`}
    </section>`;
}

function Dashboard({session}) {
  const admin = session.claims.role === "org_admin";
  const {view, setFilters, setSort, setPage} = useView();
  const {overview, error: overviewError, refresh, setBalance} = useOverview(view.filters);
  const sittings = useSittings({view, setPage, onPush: refresh});
  const [certifying, setCertifying] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [opened, setOpened] = useState(null);
  const [outcome, setOutcome] = useState("");
  const selection = useSelection({filters: view.filters, mark: sittings.mark, refresh, onAction: () => setOutcome("")});
  useEffect(() => subscribe(BALANCE, {onData: (data) => setBalance(data.creditBalanceChanged.creditBalance)}), [setBalance]);
  useEffect(() => subscribe(STATUS_CHANGES, {onData: refresh, onReconnect: refresh}), [refresh]);
  const balance = overview.organisation?.creditBalance;
  const selected = selectedCount(overview.stats);
  // A selection kept on the server (from before a reload, or another tab) opens the page in certify mode, once.
  const opening = useRef(true);
  useEffect(() => {
    if (!overview.stats || !opening.current) return;
    opening.current = false;
    if (admin && selected > 0) setCertifying(true);
  }, [overview.stats]);
  const certified = (payload) => {
    setConfirming(false);
    selection.forget();
    setBalance(payload.creditBalance);
    setOutcome(`${number(payload.certifiedCount)} certified; ${plural(payload.creditsSpent, "credit", "credits")} spent.`);
    refresh();
  };
  const live = sittings.status;
  return html`
    <${SessionBar} title="Dashboard" session=${session}>
      <span class=${`live ${live}`} id="live-status" role="status">
        ${{live: "Live", connecting: "Connecting…", stopped: "Not live"}[live] || "Reconnecting…"}
      </span>
    <//>
    <main class="dashboard" id="dashboard">
      <section class="overview" aria-label="Overview">
        <h2 id="organisation-name"><bdi dir="auto">${overview.organisation?.name || "Your organisation"}</bdi></h2>
        <p class="balance">Credit balance: <strong id="balance">${balance == null ? "…" : number(balance)}</strong></p>
        <${StatusCounts} stats=${overview.stats} />
        ${admin && !certifying && html`<button type="button" class="primary" id="certify-mode"
          onClick=${() => { setOutcome(""); setCertifying(true); }}>Certify…</button>`}
      </section>
      ${overviewError && html`<p class="notice error" role="alert">${overviewError}</p>`}
      <${Filters} filters=${view.filters} tests=${overview.tests} onChange=${setFilters} />
      ${admin && certifying && html`<${CertifyBar} selected=${selected} balance=${balance} matching=${overview.matching}
        busy=${selection.busy} onSelectMatching=${selection.selectMatching} onClear=${selection.clear}
        onDone=${() => setConfirming(true)} onLeave=${() => { selection.forget(); setCertifying(false); }} />
        <${SelectionNotice} notice=${selection.notice}
          onShow=${(target) => setFilters((old) => ({...old, status: [target]}))} />`}
      <p class="notice error" role="alert" id="dashboard-error">${selection.error || sittings.error}</p>
      <p class="notice done" role="status" id="outcome" tabindex="-1">${outcome}</p>
      <${Results} sittings=${sittings} admin=${admin} certifying=${certifying} selection=${selection}
        sort=${view.sort} onSort=${setSort} onOpen=${setOpened} />
    </main>
    ${admin && html`<${ConfirmDialog} open=${confirming} selected=${selected} balance=${balance}
      onClose=${() => setConfirming(false)} onCertified=${certified} />`}
    <${CertificateDialog} sitting=${opened} canRevoke=${admin} onClose=${() => setOpened(null)} />`;
}

function App() {
  const [session, setSession] = useState(startSession);
  useEffect(() => onSessionChange(setSession), []);
  if (!session) {
    return html`<${SignIn} title="Dashboard"
      purpose="Your organisation's sittings and their certification. Sign in with your access token." />`;
  }
  if (!DASHBOARD_ROLES.includes(session.claims.role)) {
    return html`<${WrongRole} title="Dashboard" session=${session}
      message="The dashboard is for an organisation's admins and analysts: sign in with your organisation's token to use it." />`;
  }
  return html`<${Dashboard} key=${session.token} session=${session} />`;
}

render(html`<${App} />`, document.getElementById("app"));
