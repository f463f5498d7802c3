// The page of sittings the dashboard shows (dashboard.js): the first page is the live query liveSittings (pushed
// again after each burst of changes in the organisation); a later page is read with sittings(after:) and read
// again on each push.
//
// The page's number is in the URL (dashboard_url.js). Pages reached with Next keep the cursor they were reached
// with; a page opened from the URL (a reload, Back, a shared link) finds its cursor in one request, the cursor
// of the row before it (sittings with skip), however deep the page.

import {useEffect, useRef, useState} from "../vendor/preact/hooks.js";
import {graphql} from "./api.js";
import {apiFilter, apiOrder, dateProblem, literal, scoreProblem} from "./dashboard_url.js";
import {number} from "./format.js";
import {subscribe} from "./live.js";
import {html} from "./view.js";

export const PAGE_SIZE = 50;
const ROW = `id takenAt score status ineligibilityReason
  testTaker { name email } test { id name scoreMax } certificate { id status }`;
const ARGUMENTS = "$filter: SittingFilter, $orderBy: SittingOrder, $first: Int, $after: String";
const PAGE = `query DashboardPage(${ARGUMENTS}) {
  sittings(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { ${ROW} } }
  }
}`;
const SKIP = `query DashboardSkip($filter: SittingFilter, $orderBy: SittingOrder, $skip: Int) {
  sittings(filter: $filter, orderBy: $orderBy, first: 1, skip: $skip) { totalCount pageInfo { endCursor } }
}`;
const MAX_SKIP = 10_000_000; // the most rows the API's skip passes over

function liveQuery(filters, sort) {
  const args = [`first: ${PAGE_SIZE}`, `orderBy: ${literal(apiOrder(sort))}`];
  const filter = apiFilter(filters);
  if (Object.keys(filter).length) args.push(`filter: ${literal(filter)}`);
  return `subscription DashboardLive { liveSittings(${args.join(", ")}) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { ${ROW} } }
  } }`;
}

function pageOf(connection, pageNumber = 1) {
  return {
    items: connection.edges.map((edge) => edge.node),
    total: connection.totalCount,
    hasNextPage: connection.pageInfo.hasNextPage,
    endCursor: connection.pageInfo.endCursor,
    loaded: true,
    pageNumber,
  };
}

/**
 * {pageNumber, after}: the after-cursor of page ``pageNumber`` (the cursor of the row before it, one request
 * with skip), or of the last page if there are fewer (one request more).
 */
async function cursorOf(pageNumber, variables) {
  if (pageNumber <= 1) return {pageNumber: 1, after: null};
  const skip = Math.min((pageNumber - 1) * PAGE_SIZE - 1, MAX_SKIP);
  const connection = (await graphql(SKIP, {...variables, skip})).sittings;
  const pages = Math.max(1, Math.ceil(connection.totalCount / PAGE_SIZE));
  if (pageNumber > pages) return cursorOf(pages, variables);
  if (!connection.pageInfo.endCursor) return {pageNumber: 1, after: null};
  return {pageNumber, after: connection.pageInfo.endCursor};
}

/** The live first page of ``filters`` in ``sort``; none is asked for while a range is impossible. */
function useLivePage(filters, sort, onPush) {
  const [live, setLive] = useState({items: [], total: 0, loaded: false});
  const [status, setStatus] = useState("connecting");
  const [error, setError] = useState("");
  const push = useRef(onPush);
  push.current = onPush;
  const impossible = scoreProblem(filters.min, filters.max) || dateProblem(filters.from, filters.to);
  const query = impossible ? "" : liveQuery(filters, sort);
  useEffect(() => {
    setError("");
    if (!query) {
      setLive({items: [], total: 0, loaded: true, impossible: true});
      return undefined;
    }
    setLive({items: [], total: 0, loaded: false});
    let received = false;
    let refused = false;
    const stop = subscribe(query, {
      onData: (data) => {
        received = true;
        setError("");
        setLive(pageOf(data.liveSittings));
        push.current();
      },
      onStatus: (next) => refused || setStatus(next),
      onError: (message) => {
        setError(`The sittings could not be loaded: ${message}`);
        if (received) return;
        refused = true;
        // refused from the start (e.g. a link naming a test that is not a test): asking again would not help
        stop();
        setStatus("stopped");
        setLive((old) => ({...old, failed: true}));
      },
    });
    return stop;
  }, [query]);
  return {live, setLive, status: query ? status : "live", error};
}

/** The page shown (the live first page, or a later one read again on each push) and how to move between pages. */
export function useSittings({view, setPage, onPush}) {
  const {filters, sort, page: pageNumber} = view;
  // (from the filters themselves: the live page learns it in an effect, after this one would have asked)
  const impossible = Boolean(scoreProblem(filters.min, filters.max) || dateProblem(filters.from, filters.to));
  const [later, setLater] = useState(null);
  const [error, setError] = useState("");
  const [tick, setTick] = useState(0);
  // page number → (a promise of) {pageNumber, after}: its after-cursor, for these filters and order
  const cursors = useRef({key: "", after: new Map()});
  const {live, setLive, status, error: liveError} = useLivePage(filters, sort, () => {
    setTick((n) => n + 1);
    onPush();
  });
  const variables = {filter: apiFilter(filters), orderBy: apiOrder(sort)};
  const key = JSON.stringify(variables);
  if (cursors.current.key !== key) cursors.current = {key, after: new Map()};
  useEffect(() => {
    setError("");
    if (pageNumber === 1 || impossible) return undefined;
    let current = true;
    (async () => {
      const known = cursors.current.after;
      // (the promise is kept at once: a push while it is asked waits for the same answer instead of asking again)
      if (!known.has(pageNumber)) {
        known.set(pageNumber, cursorOf(pageNumber, variables));
        known.get(pageNumber).catch(() => known.delete(pageNumber));
      }
      const found = await known.get(pageNumber);
      if (found.pageNumber !== pageNumber) known.set(found.pageNumber, Promise.resolve(found));
      if (!current) return;
      if (found.pageNumber !== pageNumber) return setPage(found.pageNumber, true);
      const {after} = found;
      const data = await graphql(PAGE, {...variables, first: PAGE_SIZE, after});
      if (current) setLater({...pageOf(data.sittings, pageNumber), key});
    })().catch((failure) => current && setError(`The page could not be loaded: ${failure.message}`));
    return () => { current = false; };
  }, [pageNumber, key, tick, impossible]);
  const shown = pageNumber === 1 || impossible ? live
    : later?.pageNumber === pageNumber && later.key === key ? later : {items: [], total: live.total, loaded: false, pageNumber};
  const mark = (id, status) => {
    const update = (old) => old && {...old, items: old.items.map((item) => (item.id === id ? {...item, status} : item))};
    setLive(update);
    setLater(update);
  };
  return {
    page: shown, status, error: liveError || error, pageNumber: impossible ? 1 : pageNumber, mark,
    next: () => {
      if (!shown.hasNextPage) return;
      cursors.current.after.set(pageNumber + 1, Promise.resolve({pageNumber: pageNumber + 1, after: shown.endCursor}));
      setPage(pageNumber + 1);
    },
    previous: () => pageNumber > 1 && setPage(pageNumber - 1),
  };
}

export function Pager({page, pageNumber, onNext, onPrevious}) {
  const pages = Math.max(1, Math.ceil(page.total / PAGE_SIZE), pageNumber);
  return html`
    <nav class="pager" aria-label="Pages">
      <button type="button" id="previous-page" disabled=${pageNumber === 1} onClick=${onPrevious}>Previous</button>
      <span id="page-number">Page ${number(pageNumber)} of ${number(pages)}</span>
      <button type="button" id="next-page" disabled=${!page.hasNextPage} onClick=${onNext}>Next</button>
    </nav>`;
}
