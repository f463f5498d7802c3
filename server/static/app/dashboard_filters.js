// The dashboard's filters form (dashboard.js); the filters themselves live in the URL (dashboard_url.js).
//
// A range (score, or UTC days) is applied as a pair once both ends make sense together: an impossible one
// is kept as typed, said in words beside its fields, and not sent.

import {useEffect, useRef, useState} from "../vendor/preact/hooks.js";
import {NO_FILTERS, STATUSES, dateProblem, scoreProblem} from "./dashboard_url.js";
import {html} from "./view.js";

export const STATUS_NAMES = {
  UNSELECTED: "Not selected",
  SELECTED: "Selected",
  IN_PROGRESS: "In process",
  CERTIFIED: "Certified",
  INELIGIBLE: "Cannot be certified",
};

/**
 * Two inputs for a range, kept as typed until one is committed (change: Enter or leaving it); then, if
 * ``problemOf(low, high)`` finds nothing wrong (and the browser could read both), ``onCommit(low, high)``;
 * else the problem beside them, until the fields are put right.
 */
function RangeFields({id, label, ids, names, low, high, problemOf, unreadable, onCommit, placeholders = ["", ""], ...attributes}) {
  const [draft, setDraft] = useState([low, high]);
  const [unread, setUnread] = useState([false, false]); // the browser cannot read what is typed (a number input's "1e")
  const [said, setSaid] = useState(() => Boolean(problemOf(low, high))); // once committed, kept up to date
  const inputs = [useRef(null), useRef(null)];
  // Each end follows its own value only: the other end may hold what is being typed (committing one end
  // re-renders the form while the next is typed in).
  useEffect(() => setDraft((old) => [low, old[1]]), [low]);
  useEffect(() => setDraft((old) => [old[0], high]), [high]);
  const read = () => {
    const [first, second] = inputs.map((input) => input.current);
    setDraft([first.value, second.value]);
    setUnread([first.validity.badInput, second.validity.badInput]);
    return first.validity.badInput || second.validity.badInput ? unreadable : problemOf(first.value.trim(), second.value.trim());
  };
  const commit = () => {
    setSaid(true);
    if (!read()) onCommit(...inputs.map((input) => input.current.value.trim()));
  };
  const [first, second] = draft.map((value) => value.trim());
  const problem = !said ? "" : unread.some(Boolean) ? unreadable : problemOf(first, second);
  // Which field is wrong: one whose value is wrong on its own (or unreadable), else both (a range reversed).
  const alone = unread.some(Boolean) ? unread : [Boolean(problemOf(first, "")), Boolean(problemOf("", second))];
  const blamed = !problem ? [false, false] : alone.some(Boolean) ? alone : [true, true];
  const problemId = `${id}-problem`;
  const field = (index) => html`<input id=${ids[index]} ref=${inputs[index]} ...${attributes} aria-label=${names[index]}
    placeholder=${placeholders[index]} value=${draft[index]} aria-invalid=${blamed[index] ? "true" : "false"}
    aria-describedby=${problem ? problemId : undefined} onInput=${read} onChange=${commit} />`;
  return html`
    <div class=${`field range ${id}`} role="group" aria-labelledby=${`${id}-label`}>
      <span class="label" id=${`${id}-label`}>${label}</span>
      ${field(0)} ${field(1)}
      <p class="field-error" id=${problemId} role="alert">${problem}</p>
    </div>`;
}

/** The filter form; ``onChange(change)``, ``change`` a function of the latest filters, as soon as a field changes
 * (the search a moment after typing stops). */
export function Filters({filters, tests, onChange}) {
  const [search, setSearch] = useState(filters.q);
  const timer = useRef(null);
  useEffect(() => setSearch(filters.q), [filters.q]);
  useEffect(() => () => clearTimeout(timer.current), []);
  const set = (key, value) => onChange((old) => ({...old, [key]: value}));
  const toggle = (status, on) => onChange((old) => ({...old, status: STATUSES.filter((s) => (s === status ? on : old.status.includes(s)))}));
  const searchNow = (value) => {
    clearTimeout(timer.current);
    set("q", value.trim());
  };
  const typed = (value) => {
    setSearch(value);
    clearTimeout(timer.current);
    timer.current = setTimeout(() => searchNow(value), 300);
  };
  const any = Object.entries(filters).some(([, value]) => value.length);
  return html`
    <form class="filters" id="filters" role="search" aria-label="Filter the sittings"
      onSubmit=${(event) => { event.preventDefault(); searchNow(search); }}>
      <div class="field search">
        <label for="filter-q">Search</label>
        <input id="filter-q" type="search" dir="auto" autocomplete="off" placeholder="Name or e-mail" maxlength="200"
          value=${search} onInput=${(event) => typed(event.currentTarget.value)} />
      </div>
      <fieldset class="field statuses">
        <legend>Status</legend>
        ${STATUSES.map((status) => html`
          <label class="check" key=${status}>
            <input type="checkbox" name="status" value=${status} checked=${filters.status.includes(status)}
              onChange=${(event) => toggle(status, event.currentTarget.checked)} />
            ${STATUS_NAMES[status]}
          </label>`)}
      </fieldset>
      <div class="field">
        <label for="filter-test">Test</label>
        <select id="filter-test" value=${filters.test} onChange=${(event) => set("test", event.currentTarget.value)}>
          <option value="">Every test</option>
          ${tests.map((test) => html`<option value=${test.id} key=${test.id}>${test.name}</option>`)}
        </select>
      </div>
      <${RangeFields} id="score" label="Score" type="number" inputmode="numeric" ids=${["filter-min", "filter-max"]}
        names=${["Lowest score", "Highest score"]} placeholders=${["from", "to"]} low=${filters.min} high=${filters.max}
        problemOf=${scoreProblem} unreadable="A score is a whole number." onCommit=${(min, max) => onChange((old) => ({...old, min, max}))} />
      <${RangeFields} id="dates" label="Taken (UTC)" type="date" ids=${["filter-from", "filter-to"]}
        names=${["Taken on or after", "Taken on or before"]} low=${filters.from} high=${filters.to}
        problemOf=${dateProblem} unreadable="A date is a day: year, month and day."
        onCommit=${(from, to) => onChange((old) => ({...old, from, to}))} />
      ${any && html`<button type="button" class="clear" id="clear-filters" onClick=${() => onChange(() => NO_FILTERS)}>
        Clear filters</button>`}
    </form>`;
}
