// The test taker's own page (GET /me, "My certificates"): every sitting of theirs, newest first, with what
// has become of its certificate in words and the way on: its claim page while there is a claim to send or
// follow, its downloads page once issued.
//
// Live: notificationReceived. Every change a test taker hears of (ready to claim, rejected, approved, issued,
// lapsed, revoked) sends a notification, and each one reads the list again; so does a reconnection.

import {useCallback, useEffect, useRef, useState} from "../vendor/preact/hooks.js";
import {graphql} from "./api.js";
import {utcMinute} from "./format.js";
import {HolderGate, noCertificateWords, scoreText, useSession} from "./holder.js";
import {subscribe} from "./live.js";
import {SessionBar, html, render} from "./view.js";

const TITLE = "My certificates";
const SITTINGS = `query MyCertificates {
  viewer { testTaker { name } }
  sittings(first: 500, orderBy: {field: TAKEN_AT, direction: DESC}) {
    totalCount
    edges { node { id takenAt score level status ineligibilityReason
      test { name scoreMax } organisation { name } certificate { id status holderName claimDeadline } } }
  }
}`;
const RECEIVED = "subscription MyCertificatesChanged { notificationReceived { id } }";

/** What has become of the sitting's certificate, and the link on: {said, href, link, tone}. */
function stateOf(sitting) {
  const {certificate} = sitting;
  const claim = `/claim/${encodeURIComponent(sitting.id)}`;
  switch (certificate?.status) {
    case "AWAITING_CLAIM":
      return {said: `Ready to claim, by ${utcMinute(certificate.claimDeadline)}.`, href: claim, link: "Claim your certificate", tone: "todo"};
    case "REJECTED":
      return {said: "Your claim needs changes.", href: claim, link: "See why and send it again", tone: "todo"};
    case "UNDER_REVIEW":
      return {said: "Your claim is being reviewed.", href: claim, link: "Follow your claim", tone: ""};
    case "APPROVED":
      return {said: "Approved: your certificate is being issued.", href: claim, link: "Follow your claim", tone: ""};
    case "ISSUED":
      return {said: "Issued.", href: `/certificates/${encodeURIComponent(certificate.id)}`, link: "Download your certificate", tone: "ok"};
    case "REVOKED":
      return {said: "Revoked: it is no longer valid.", href: `/certificates/${encodeURIComponent(certificate.id)}`, link: "See the certificate", tone: "bad"};
    default:
      return {said: noCertificateWords(sitting), tone: sitting.status === "INELIGIBLE" ? "bad" : ""};
  }
}

function SittingCard({sitting}) {
  const state = stateOf(sitting);
  const holder = sitting.certificate?.holderName;
  return html`
    <li class="my-sitting" data-id=${sitting.id}>
      <h2><bdi dir="auto" class="my-test">${sitting.test.name}</bdi></h2>
      <dl class="facts my-facts">
        <dt>Organisation</dt><dd><bdi dir="auto" class="my-organisation">${sitting.organisation.name}</bdi></dd>
        <dt>Taken</dt><dd class="my-taken">${utcMinute(sitting.takenAt)}</dd>
        <dt>Score</dt><dd class="my-score">${scoreText(sitting)}</dd>
        ${holder && html`<dt>Name on it</dt><dd><bdi dir="auto" class="my-holder">${holder}</bdi></dd>`}
      </dl>
      <p class=${`my-status ${state.tone}`}>${state.said}</p>
      ${state.href && html`<a class=${state.tone === "todo" ? "button primary" : "button"} href=${state.href}>${state.link}</a>`}
    </li>`;
}

function Mine({session}) {
  const [mine, setMine] = useState(null);
  const [problem, setProblem] = useState("");
  const [live, setLive] = useState("connecting");
  const reads = useRef(0);
  const load = useCallback(async () => {
    const read = ++reads.current;
    try {
      const data = await graphql(SITTINGS);
      if (read !== reads.current) return; // a newer read is on its way: an older answer never overwrites it
      setMine({name: data.viewer.testTaker?.name || "", sittings: data.sittings.edges.map((edge) => edge.node),
        total: data.sittings.totalCount});
      setProblem("");
    } catch (error) {
      if (read === reads.current && error.code !== "UNAUTHENTICATED") setProblem(`Your certificates could not be loaded: ${error.message}`);
    }
  }, []);
  useEffect(() => {
    load();
    return subscribe(RECEIVED, {onData: load, onStatus: setLive, onReconnect: load});
  }, [load]);
  const count = mine && (mine.total === 1 ? "1 result" : `${mine.total} results`);
  return html`
    <${SessionBar} title=${TITLE} session=${session}>
      <span class=${`live ${live}`} id="live-status" role="status">
        ${live === "live" ? "Live" : live === "connecting" ? "Connecting…" : "Reconnecting…"}
      </span>
    <//>
    <main class="page holder-page my-page">
      ${problem && html`<p class="notice error" role="alert" id="message">${problem}</p>`}
      ${!mine && !problem && html`<p role="status" id="message">Finding your results…</p>`}
      ${mine && mine.sittings.length > 0 && html`
        <p class="my-intro" id="my-intro">${"The test results of "}<bdi dir="auto" id="taker-name">${mine.name}</bdi>${`: ${count}, newest first.`}</p>`}
      ${mine && html`
        ${mine.sittings.length
          ? html`<ul class="my-sittings" id="my-sittings">${mine.sittings.map((s) => html`<${SittingCard} key=${s.id} sitting=${s} />`)}</ul>`
          : html`<p class="notice" id="message">You have no test results here yet. They show here once your test centre records them.</p>`}
        ${mine.total > mine.sittings.length && html`<p class="hint">The newest ${mine.sittings.length} are shown.</p>`}`}
    </main>`;
}

function App() {
  const session = useSession();
  return html`
    <${HolderGate} title=${TITLE} session=${session}
      purpose="Your test results and certificates. Sign in with the account you took your tests with.">
      <${Mine} key=${session?.token} session=${session} />
    <//>`;
}

// The shell's loading words go: Preact would otherwise keep the nodes it does not reuse.
const root = document.getElementById("app");
root.replaceChildren();
render(html`<${App} />`, root);
