// What the dashboard shows, kept in the URL's query string (dashboard.js): the filters, the order and the page,
// so a view can be bookmarked, shared and reloaded, and Back returns to the previous one.
//
// ?status=UNSELECTED,SELECTED&test=<Test ID>&min=60&max=100&from=2026-10-01&to=2026-10-31&q=text&sort=-score&page=3
// Dates are whole UTC days, both ends included. ``sort`` names a column, ascending, or descending after "-"
// (none: newest first). ``page`` counts from 1 (none: the first); a change of filter or order returns to it.

import {useCallback, useEffect, useRef, useState} from "../vendor/preact/hooks.js";

export const STATUSES = ["UNSELECTED", "SELECTED", "IN_PROGRESS", "CERTIFIED", "INELIGIBLE"];
const KEYS = ["status", "test", "min", "max", "from", "to", "q"];
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const WHOLE = /^-?\d+$/;
const LARGEST_SCORE = 2 ** 31 - 1;

/** The columns the table sorts by, as the API's SittingOrderField. */
export const SORT_FIELDS = {name: "TEST_TAKER_NAME", taken: "TAKEN_AT", score: "SCORE"};
export const DEFAULT_SORT = {column: "taken", descending: true};
export const NO_FILTERS = {status: [], test: "", min: "", max: "", from: "", to: "", q: ""};

function filtersOf(params) {
  const filters = Object.fromEntries(KEYS.map((key) => [key, (params.get(key) || "").trim()]));
  filters.status = filters.status.split(",").filter((status) => STATUSES.includes(status));
  if (!WHOLE.test(filters.min)) filters.min = "";
  if (!WHOLE.test(filters.max)) filters.max = "";
  if (!DAY.test(filters.from)) filters.from = "";
  if (!DAY.test(filters.to)) filters.to = "";
  return filters;
}

function sortOf(text) {
  const column = text.replace(/^-/, "");
  return column in SORT_FIELDS ? {column, descending: text.startsWith("-")} : DEFAULT_SORT;
}

/** The view the URL's query string holds: {filters: {status: [...], test, min, max, from, to, q}, sort, page}. */
export function viewFromUrl(search = location.search) {
  const params = new URLSearchParams(search);
  const page = Number(params.get("page"));
  return {
    filters: filtersOf(params),
    sort: sortOf(params.get("sort") || ""),
    page: Number.isSafeInteger(page) && page > 1 ? page : 1,
  };
}

/** The query string for ``view`` ("" when it is the default view). */
export function urlOf({filters, sort, page}) {
  const params = new URLSearchParams();
  for (const key of KEYS) {
    const value = key === "status" ? filters.status.join(",") : filters[key];
    if (value) params.set(key, value);
  }
  if (sort.column !== DEFAULT_SORT.column || sort.descending !== DEFAULT_SORT.descending) {
    params.set("sort", `${sort.descending ? "-" : ""}${sort.column}`);
  }
  if (page > 1) params.set("page", String(page));
  const query = params.toString();
  return query ? `?${query.replace(/%2C/g, ",")}` : "";
}

/** What is wrong with a score range (min, max as typed), in words; "" when nothing is. */
export function scoreProblem(min, max) {
  for (const value of [min, max]) {
    if (value && !WHOLE.test(value)) return "A score is a whole number.";
    if (value && Math.abs(Number(value)) > LARGEST_SCORE) return "That score is too large.";
  }
  if (min && max && Number(min) > Number(max)) return "The lowest score must not exceed the highest score.";
  return "";
}

/** Whether ``text`` (YYYY-MM-DD) names a day of the calendar (not 2026-02-30, nor 2026-13-45, nor year 0). */
function realDay(text) {
  const [year, month, day] = text.split("-").map(Number);
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return year > 0 && date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** What is wrong with a date range (from, to as typed, YYYY-MM-DD), in words; "" when nothing is. */
export function dateProblem(from, to) {
  if ((from && !DAY.test(from)) || (to && !DAY.test(to))) return "A date is a day: year, month and day.";
  // (a date field cannot show an impossible day: the words say which field holds it)
  if (from && !realDay(from)) return `The first day, ${from}, is not a date.`;
  if (to && !realDay(to)) return `The last day, ${to}, is not a date.`;
  if (from && to && from > to) return "The first day must not be after the last day.";
  return "";
}

/** The API's SittingFilter for ``filters`` (only the criteria set). */
export function apiFilter(filters) {
  const filter = {};
  if (filters.status.length) filter.status = filters.status;
  if (filters.test) filter.testId = filters.test;
  if (filters.min) filter.scoreMin = Number(filters.min);
  if (filters.max) filter.scoreMax = Number(filters.max);
  if (filters.from) filter.takenAfter = `${filters.from}T00:00:00Z`;
  if (filters.to) filter.takenBefore = `${filters.to}T23:59:59.999Z`;
  if (filters.q) filter.search = filters.q;
  return filter;
}

/** The API's SittingOrder for ``sort``. */
export function apiOrder(sort) {
  return {field: SORT_FIELDS[sort.column], direction: sort.descending ? "DESC" : "ASC"};
}

/**
 * ``value`` as a GraphQL literal, for subscriptions (sent as text): strings as JSON strings (valid GraphQL strings),
 * the keys listed in ``enums`` as bare enum values.
 */
export function literal(value, enums = ["status", "field", "direction"], key = "") {
  if (Array.isArray(value)) return `[${value.map((item) => literal(item, enums, key)).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value).map(([name, item]) => `${name}: ${literal(item, enums, name)}`).join(", ")}}`;
  }
  if (typeof value === "string") return enums.includes(key) ? value : JSON.stringify(value);
  return String(value);
}

/**
 * The view and its setters. Each setter takes the change as a function of the latest view, so two changes made
 * at once (a field committed by the Enter that also submits the form) both hold. New filters or a new order
 * return to the first page; each change is a history entry.
 */
export function useView() {
  const [view, setView] = useState(() => viewFromUrl());
  const latest = useRef(view);
  useEffect(() => {
    const back = () => {
      latest.current = viewFromUrl();
      setView(latest.current);
    };
    window.addEventListener("popstate", back);
    return () => window.removeEventListener("popstate", back);
  }, []);
  const go = useCallback((next, replace = false) => {
    latest.current = next;
    const url = urlOf(next);
    if (url !== location.search) history[replace ? "replaceState" : "pushState"](null, "", location.pathname + url);
    setView(next);
  }, []);
  const setFilters = useCallback((change) => {
    const filters = change(latest.current.filters);
    if (urlOf({...latest.current, filters}) === urlOf(latest.current)) return;
    go({...latest.current, filters, page: 1});
  }, [go]);
  const setSort = useCallback((sort) => go({...latest.current, sort, page: 1}), [go]);
  const setPage = useCallback((page, replace) => go({...latest.current, page}, replace), [go]);
  return {view, setFilters, setSort, setPage};
}
