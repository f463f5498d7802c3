// The review desk (GET /review): the security team's queue, live, one claim beside its sitting's facts,
// approve or reject with a reason, from the keyboard.
//
// The queue is reviewQueue (oldest submission first, or newest first; searched by name; 50 a page) kept up to
// date by reviewQueueChanged:
// SUBMITTED adds or updates a claim, APPROVED and REJECTED take it out (an approved certificate whose
// render failed stays, with its error: approving it again retries the render).

import {useCallback, useEffect, useMemo, useRef, useState} from "../vendor/preact/hooks.js";
import {ApiError, graphql} from "./api.js";
import {subscribe} from "./live.js";
import {onSessionChange, startSession} from "./session.js";
import {WrongRole} from "./gate.js";
import {ClaimDetail, ClaimList, HelpDialog} from "./review_parts.js";
import {SessionBar, SignIn, html, render} from "./view.js";

const PAGE_SIZE = 50;
const MAX_PAGE = 500;
const SETTLE_MS = 600; // a claim must have been on screen this long before "a" decides it
const SEARCH_DELAY_MS = 300;
const CLAIM = `fragment Claim on Certificate {
  id status holderName submittedAt photoUrl renderError
  sitting { id takenAt score level testTaker { name } test { name scoreMax } organisation { name } }
}`;
const QUEUE = `query ReviewDesk($first: Int, $after: String, $search: String, $newestFirst: Boolean) {
  reviewQueue(first: $first, after: $after, search: $search, newestFirst: $newestFirst) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { ...Claim } }
  }
} ${CLAIM}`;
const CHANGED = `subscription ReviewDeskChanges { reviewQueueChanged { change certificate { ...Claim } } } ${CLAIM}`;
const APPROVE = `mutation Approve($id: ID!) {
  approveCertificate(input: {certificateId: $id}) { certificate { ...Claim } errors { code message } }
} ${CLAIM}`;
const REJECT = `mutation Reject($id: ID!, $reason: String!) {
  rejectCertificate(input: {certificateId: $id, reason: $reason}) { certificate { id status } errors { code message } }
}`;
const REVIEWER_ROLES = ["security_reviewer", "platform_admin"];
const NO_QUEUE = {items: [], total: 0, hasNextPage: false, endCursor: null, loaded: false, unseen: 0};

/** The desk's view from the address bar: ``?q=`` a name to find, ``?order=newest`` newest first. */
function viewFromUrl() {
  const params = new URLSearchParams(location.search);
  return {search: (params.get("q") || "").trim(), newestFirst: params.get("order") === "newest"};
}

/** The claim selected when the page was loaded (``?claim=<id>``): a reload selects it again. */
function claimFromUrl() {
  return new URLSearchParams(location.search).get("claim") || null;
}

function showInUrl(view, claimId) {
  const params = new URLSearchParams();
  if (view.search) params.set("q", view.search);
  if (view.newestFirst) params.set("order", "newest");
  if (claimId) params.set("claim", claimId);
  const query = params.toString();
  history.replaceState(history.state, "", `${location.pathname}${query ? `?${query}` : ""}`);
}

function stays(certificate) {
  return certificate.status === "UNDER_REVIEW" || (certificate.status === "APPROVED" && certificate.renderError);
}

/** The queue after ``certificate`` changed: replaced, added in submission order, or taken out. */
function applied(queue, certificate, view) {
  const index = queue.items.findIndex((item) => item.id === certificate.id);
  const items = queue.items.slice();
  if (!stays(certificate)) {
    if (index < 0) return queue;
    items.splice(index, 1);
    return {...queue, items, total: queue.total - 1};
  }
  if (index >= 0) {
    items[index] = certificate;
    return {...queue, items};
  }
  // A new claim: the server alone knows whether it matches a search; oldest first, it belongs on a later page
  // when one is not loaded yet. Either way it is counted as not shown, and the list offers to show it.
  if (view.search) return {...queue, unseen: queue.unseen + 1};
  if (queue.hasNextPage && !view.newestFirst) return {...queue, total: queue.total + 1, unseen: queue.unseen + 1};
  items.push(certificate);
  const order = view.newestFirst ? -1 : 1;
  items.sort((a, b) => order * (a.submittedAt || "").localeCompare(b.submittedAt || ""));
  return {...queue, items, total: queue.total + 1};
}

function useQueue(view, selected) {
  const [queue, setQueue] = useState(NO_QUEUE);
  const [loadError, setLoadError] = useState("");
  const loadedCount = useRef(PAGE_SIZE);
  const shown = useRef(view); // an answer for a view the reviewer has left is dropped
  shown.current = view;
  const pageOf = async (first, after) => {
    const variables = {first, after, search: view.search || null, newestFirst: view.newestFirst};
    return (await graphql(QUEUE, variables)).reviewQueue;
  };
  // A reload keeps as many claims as were loaded, and reads on (one more page at most) until the selected
  // claim is among them: it is followed by its id, never replaced by whichever claim took its place.
  const reload = async () => {
    const want = Math.max(PAGE_SIZE, loadedCount.current);
    const items = [];
    let page = null;
    do {
      const after = page ? page.pageInfo.endCursor : null;
      page = await pageOf(Math.min(MAX_PAGE, Math.max(want - items.length, PAGE_SIZE)), after);
      items.push(...page.edges.map((edge) => edge.node).filter((node) => !items.some((item) => item.id === node.id)));
    } while (
      page.pageInfo.hasNextPage &&
      (items.length < want ||
        (selected.current && !items.some((item) => item.id === selected.current) && items.length < want + MAX_PAGE))
    );
    return {items, page};
  };
  const load = useCallback(async (after = null) => {
    try {
      const {items, page} = after ? {items: null, page: await pageOf(PAGE_SIZE, after)} : await reload();
      if (shown.current !== view) return;
      setQueue((old) => {
        const more = page.edges.map((edge) => edge.node).filter((n) => !old.items.some((o) => o.id === n.id));
        const all = items || [...old.items, ...more];
        loadedCount.current = all.length;
        // once the last page is in, every claim that arrived meanwhile is shown
        const unseen = page.pageInfo.hasNextPage ? old.unseen : 0;
        return {items: all, total: page.totalCount, ...page.pageInfo, loaded: true, unseen};
      });
      setLoadError("");
    } catch (error) {
      if (error.code !== "UNAUTHENTICATED") setLoadError(`The queue could not be loaded: ${error.message}`);
    }
  }, [view]);
  useEffect(() => {
    loadedCount.current = PAGE_SIZE;
    setQueue(NO_QUEUE);
    load();
  }, [load]);
  const change = useCallback((certificate) => setQueue((old) => applied(old, certificate, view)), [view]);
  return {queue, loadError, load, change};
}

function useShortcuts(handlers) {
  const latest = useRef(handlers);
  latest.current = handlers;
  useEffect(() => {
    const onKey = (event) => {
      // Not while typing, nor behind the open shortcuts dialog (its Escape closes it); a checkbox (such as
      // "Newest first") takes no letters, so the shortcuts work from it.
      if (event.ctrlKey || event.metaKey || event.altKey || document.querySelector("dialog[open]")) return;
      const typing = event.target.closest?.(
        "input:not([type=checkbox]):not([type=radio]), textarea, select, [contenteditable]");
      const handler = typing ? null : latest.current[event.key];
      if (handler) {
        event.preventDefault();
        handler(event);
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);
}

function useDecisions(change, selectedId, pending, setBusy, onDecided) {
  const [outcome, setOutcome] = useState({id: null, error: "", done: ""});
  const decide = async (certificate, mutation, variables, verb) => {
    if (pending.current) return false; // sent already, before the re-render that disables the buttons
    pending.current = certificate.id;
    setBusy(true);
    setOutcome({id: certificate.id, error: "", done: ""});
    try {
      const payload = Object.values(await graphql(mutation, {id: certificate.id, ...variables}))[0];
      if (payload.errors.length) {
        const [error] = payload.errors;
        if (error.code === "NOT_FOUND") change({...certificate, status: "GONE"});
        setOutcome({id: certificate.id, error: `Not ${verb}: ${error.message}`, done: ""});
        return false;
      }
      change({...certificate, ...payload.certificate});
      onDecided(certificate.id);
      const name = certificate.holderName || certificate.sitting.testTaker.name;
      setOutcome({id: null, error: "", done: `${name}: ${verb}.`});
      return true;
    } catch (error) {
      const message = error instanceof ApiError ? error.message : String(error);
      setOutcome({id: certificate.id, error: `Not ${verb}: ${message}`, done: ""});
      return false;
    } finally {
      pending.current = null;
      setBusy(false);
    }
  };
  const approve = (certificate) => decide(certificate, APPROVE, {}, "approved");
  const reject = (certificate, reason) => {
    if (!reason.trim()) {
      setOutcome({id: certificate.id, error: "Write the reason first: the test taker reads it.", done: ""});
      return Promise.resolve(false);
    }
    return decide(certificate, REJECT, {reason}, "rejected");
  };
  const error = outcome.id && outcome.id === selectedId ? outcome.error : "";
  return {approve, reject, error, done: outcome.done};
}

/** One token per showing of a claim, made in the very render that shows it: what belongs to one showing (being
 * settled, the open reason field) is kept against its token, so it ends in that same render when another claim
 * is shown, not in the effects that follow it (a key pressed between the two would find it still there). */
function useShowing(selectedId) {
  return useMemo(() => ({id: selectedId}), [selectedId]);
}

/** Whether the ``showing`` (of useShowing) has been on screen for SETTLE_MS: until then "a" decides nothing. */
function useSettled(showing) {
  const [settled, setSettled] = useState(null);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(showing), SETTLE_MS);
    return () => clearTimeout(timer);
  }, [showing]);
  return settled === showing;
}

function useView() {
  const [view, setView] = useState(viewFromUrl);
  const [searchText, setSearchText] = useState(view.search);
  useEffect(() => {
    const timer = setTimeout(() => setView((old) => (old.search === searchText.trim() ? old : {...old, search: searchText.trim()})), SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [searchText]);
  const setNewestFirst = (newestFirst) => setView((old) => ({...old, newestFirst}));
  const showNewest = () => {
    setSearchText("");
    setView({search: "", newestFirst: true});
  };
  return {view, searchText, setSearchText, setNewestFirst, showNewest};
}

/** The selection, by claim id. One that left the queue by someone else's decision is named, and nothing is
 * selected until the reviewer chooses; after their own decision it moves on to the claim now at its place.
 * In a new view (a search, the other order) it stays if its claim is listed, else the first claim is selected. */
function useSelection(queue, decided, pending, busy) {
  const [selectedId, setSelectedId] = useState(claimFromUrl);
  const [gone, setGone] = useState(null);
  const fromUrl = useRef(selectedId); // the address's claim, until it is found or said to have left
  const index = queue.items.findIndex((item) => item.id === selectedId);
  const lastIndex = useRef(0);
  const lastSelected = useRef(null);
  const newView = useRef(false);
  useEffect(() => {
    if (index >= 0) {
      fromUrl.current = null;
      lastIndex.current = index;
      lastSelected.current = queue.items[index];
      newView.current = false;
    } else if (selectedId !== null && pending.current === selectedId) {
      return; // it left the queue while the reviewer's own decision on it is on its way: wait for its answer
    } else if (selectedId !== null && decided.current === selectedId) {
      const next = queue.items[Math.min(lastIndex.current, queue.items.length - 1)];
      setSelectedId(next ? next.id : null);
    } else if (!queue.loaded) {
      return;
    } else if (fromUrl.current !== null && selectedId === fromUrl.current) {
      fromUrl.current = null; // the reload read on until it was sure: that claim is no longer in the queue
      setGone({fromAddress: true});
      setSelectedId(null);
    } else if (selectedId !== null && !newView.current) {
      setGone(lastSelected.current);
      setSelectedId(null);
    } else if (!gone && queue.items.length) {
      newView.current = false;
      setSelectedId(queue.items[0].id);
    } else if (selectedId !== null) setSelectedId(null);
  }, [index, queue, selectedId, gone, decided, pending, busy]);
  const choose = (id) => {
    setGone(null);
    setSelectedId(id);
  };
  const reset = () => {
    setGone(null);
    newView.current = true;
    lastIndex.current = 0;
  };
  const selected = index >= 0 ? queue.items[index] : null;
  return {selectedId, selected, index, gone, choose, reset, lastIndex};
}

function nameOf(claim) {
  return claim.holderName || claim.sitting.testTaker.name;
}

function Desk({session}) {
  const {view, searchText, setSearchText, setNewestFirst, showNewest} = useView();
  // After a decision the claim leaves the queue (and its buttons or reason field the page): focus follows the
  // selection to the next claim, or to the empty queue's words, so the keyboard keeps its place.
  const decided = useRef(null);
  const pending = useRef(null); // the claim whose decision is being sent
  const selectedRef = useRef(null);
  const [busy, setBusy] = useState(false);
  const {queue, loadError, load, change} = useQueue(view, selectedRef);
  const {selectedId, selected, index, gone, choose, reset, lastIndex} = useSelection(queue, decided, pending, busy);
  selectedRef.current = selectedId;
  useEffect(reset, [view]);
  useEffect(() => showInUrl(view, selectedId), [view, selectedId]);
  const [live, setLive] = useState("connecting");
  const [helpOpen, setHelpOpen] = useState(false);
  const showing = useShowing(selectedId);
  const [rejectingIn, setRejectingIn] = useState(null); // the showing whose reason field is open
  const rejecting = rejectingIn === showing;
  const [ignored, setIgnored] = useState("");
  const reasonField = useRef(null);
  const searchField = useRef(null);
  const settled = useSettled(showing);
  const {approve, reject, error, done} = useDecisions(change, selectedId, pending, setBusy, (id) => (decided.current = id));
  // Photo URLs are signed for CERTIFY_SIGNED_URL_TTL_SECONDS: one that fails is fetched afresh, once.
  const refreshedFor = useRef(new Set());
  const onPhotoFailed = (url) => {
    if (refreshedFor.current.has(url)) return true;
    refreshedFor.current.add(url);
    load();
    return false;
  };
  const latest = useRef({load, change});
  latest.current = {load, change};
  useEffect(
    () =>
      subscribe(CHANGED, {
        onData: (data) => latest.current.change(data.reviewQueueChanged.certificate),
        onStatus: setLive,
        onReconnect: () => latest.current.load(),
      }),
    [],
  );

  useEffect(() => {
    if (decided.current === null || selectedId === decided.current) return;
    const target = selected
      ? document.querySelector(`.claim-row[data-id="${CSS.escape(selected.id)}"]`)
      : !queue.items.length && document.getElementById("queue-empty");
    if (!target) return;
    decided.current = null;
    target.focus();
  });
  useEffect(() => {
    // The claim went from under the reviewer's hands: the keyboard rests on the words saying so.
    if (gone && (document.activeElement === document.body || !document.activeElement)) {
      document.getElementById("claim-gone")?.focus();
    }
  }, [gone]);

  const select = (id) => {
    setIgnored("");
    choose(id);
  };
  const move = (step) => {
    if (!queue.items.length) return;
    const from = index >= 0 ? index + step : step > 0 ? lastIndex.current : lastIndex.current - 1;
    const next = Math.min(queue.items.length - 1, Math.max(0, from));
    select(queue.items[next].id);
    document.getElementById(`claim-${next}`)?.focus();
  };
  const startReject = () => {
    if (!selected || selected.status !== "UNDER_REVIEW") return;
    setRejectingIn(showing);
    reasonField.current?.focus(); // already open: back to the reason (the form focuses it when it opens)
  };
  // A key press, or the second click of a double click, may land on the claim that has just replaced the one
  // decided: until it has been on screen for SETTLE_MS, those decide nothing (a single deliberate click does).
  const tryApprove = (event) => {
    const key = event?.type === "keydown";
    const hasty = key || event?.detail > 1;
    // Between the reviewer's own decision and the next claim's showing, nothing is selected for a moment.
    const next = !selected && decided.current !== null && queue.items[Math.min(lastIndex.current, queue.items.length - 1)];
    const tooSoon = (claim) =>
      `Not approved: ${nameOf(claim)}'s claim had only just been shown. Look at it, then ${key ? "press a" : "approve"} again.`;
    if (next) setIgnored(tooSoon(next));
    else if (!selected) setIgnored("Nothing is selected: choose a claim first.");
    else if (key && event.repeat) setIgnored("Holding a down approves nothing: press it once for each claim.");
    else if (busy) setIgnored("Not approved: the previous decision is still being sent.");
    else if (!settled && hasty) setIgnored(tooSoon(selected));
    else {
      setIgnored("");
      approve(selected);
    }
  };
  useShortcuts({
    j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
    a: tryApprove, r: startReject, "?": () => setHelpOpen(true), "/": () => searchField.current?.focus(),
  });

  return html`
    <${SessionBar} title="Review desk" session=${session}>
      <span class=${`live ${live}`} id="live-status" role="status">
        ${live === "live" ? "Live" : live === "connecting" ? "Connecting…" : "Reconnecting…"}
      </span>
      <button type="button" onClick=${() => load()}>Refresh</button>
      <button type="button" aria-keyshortcuts="?" onClick=${() => setHelpOpen(true)}>Shortcuts</button>
    <//>
    <main class="desk" id="desk">
      <${ClaimList} queue=${queue} view=${view} selectedId=${selectedId} onSelect=${select}
        onMore=${() => load(queue.endCursor)} loadError=${loadError} searchText=${searchText}
        onSearch=${setSearchText} searchField=${searchField} onNewestFirst=${setNewestFirst} onShowNew=${showNewest} />
      <section class="detail" aria-label="Selected claim">
        <p class="notice done" role="status" id="outcome">${done}</p>
        <p class="notice error" role="status" id="ignored">${ignored}</p>
        ${selected
          ? html`<${ClaimDetail} claim=${selected} busy=${busy} error=${error} rejecting=${rejecting} settled=${settled}
              reasonField=${reasonField} onPhotoFailed=${onPhotoFailed} onApprove=${tryApprove} onStartReject=${startReject}
              onCancelReject=${() => setRejectingIn(null)} onReject=${(reason) => reject(selected, reason)} />`
          : gone?.fromAddress
            ? html`<p class="notice" id="claim-gone" tabindex="-1">The claim this page showed before it was reloaded
                has left the queue: it has been decided. Nothing is selected: choose a claim.</p>`
          : gone
            ? html`<p class="notice" id="claim-gone" tabindex="-1"><bdi dir="auto">${nameOf(gone)}</bdi>'s claim left the
                queue: someone else decided it. Nothing is selected: choose the next claim yourself.</p>`
            : html`<p class="empty" id="queue-empty" tabindex="-1">${emptyWords(queue, view)}</p>`}
      </section>
    </main>
    <${HelpDialog} open=${helpOpen} onClose=${() => setHelpOpen(false)} />`;
}

function emptyWords(queue, view) {
  if (!queue.loaded) return "Loading the queue…";
  if (view.search && !queue.items.length) return "No claim in the queue matches this name.";
  return queue.items.length ? "Choose a claim to review." : "Nothing to review: the queue is empty.";
}

function App() {
  const [session, setSession] = useState(startSession);
  useEffect(() => onSessionChange(setSession), []);
  if (!session) {
    return html`<${SignIn} title="Review desk" purpose="The security team's queue of claims to review."
      help="Sign in with your security reviewer token." />`;
  }
  if (!REVIEWER_ROLES.includes(session.claims.role)) {
    return html`<${WrongRole} title="Review desk" session=${session}
      message="The review desk is for the security team: sign in with a security reviewer's token to use it." />`;
  }
  return html`<${Desk} key=${session.token} session=${session} />`;
}

render(html`<${App} />`, document.getElementById("app"));
