// The claim page (GET /claim/{Sitting ID}, the link in the e-mails): the test taker claims the certificate of
// the sitting, then follows it live: under review → rejected (the reason, and the form again) → issued (the
// downloads, their signed URLs fetched afresh each time).
//
// The sitting is shown as its test taker knows it (the test, the organisation, when it was taken, the score),
// never by its ID.
//
// Live: the test taker's notificationReceived subscription. Each notification is added to the list and the
// sitting's certificate is fetched again (a rejection, an approval or an issue each send one); after a
// reconnection both are fetched again, to catch up on what was missed. What the list shows while the page is
// in view has been seen: it is marked read on the server (markNotificationsRead). Those that were unread when
// the page opened show as read; those that arrive while it is open stay marked new until it is closed.

import {useCallback, useEffect, useRef, useState} from "../vendor/preact/hooks.js";
import {graphql} from "./api.js";
import {utcMinute} from "./format.js";
import {ClaimForm, Notifications} from "./claim_parts.js";
import {Downloads, HolderGate, SHELL, ToMyCertificates, noCertificateWords, scoreText, sentence, useSession} from "./holder.js";
import {subscribe} from "./live.js";
import {SessionBar, html, render} from "./view.js";

const TITLE = "Claim your certificate";
const NO_CERTIFICATE_TITLE = "Your result"; // a sitting with no certificate has nothing to claim
const NOTICE = "fragment Notice on Notification { id kind title body createdAt readAt }";
const SITTING = `query ClaimSitting($id: ID!) {
  node(id: $id) { ... on Sitting { id takenAt score level status ineligibilityReason test { name scoreMax } organisation { name }
    certificate { id status holderName rejectionReason claimDeadline verificationCode pdfUrl pngUrl sitting { test { name } } } } }
}`;
const NOTIFICATIONS = `query HolderNotifications { notifications(first: 20) { edges { node { ...Notice } } } } ${NOTICE}`;
const RECEIVED = `subscription HolderNotificationReceived { notificationReceived { ...Notice } } ${NOTICE}`;
const MARK_READ = `mutation MarkSeen($ids: [ID!]!) { markNotificationsRead(input: {ids: $ids}) { updatedCount errors { message } } }`;
const SENT = "Your claim has been sent: our security team is reviewing it.";

/** What the page says of the sitting's certificate (the words in #message): why there is none, as /me says it. */
function said(sitting) {
  const {certificate} = sitting;
  switch (certificate?.status) {
    case undefined: return noCertificateWords(sitting);
    case "AWAITING_CLAIM": return "";
    case "UNDER_REVIEW": return SENT;
    case "REJECTED": return "Your claim needs changes: read why below, then send it again.";
    case "APPROVED": return "Your claim has been approved: your certificate is being issued. Its downloads show here when it is ready.";
    case "ISSUED": return "Your certificate has been issued.";
    case "REVOKED": return "This certificate has been revoked: it is no longer valid.";
    case "LAPSED": return "The time to claim this certificate has passed. Ask your test centre about it.";
    default: return `This certificate cannot be claimed now (it is ${certificate.status.toLowerCase()}).`;
  }
}

const STEPS = [
  ["sent", "Claim sent"],
  ["review", "Under review"],
  ["issued", "Issued"],
];
const STEP_OF = {AWAITING_CLAIM: -1, UNDER_REVIEW: 1, REJECTED: 1, APPROVED: 2, ISSUED: 2, REVOKED: 2};

function Progress({status}) {
  const at = STEP_OF[status] ?? -1;
  if (at < 0) return null;
  return html`
    <ol class="progress" id="progress" aria-label="Your claim">
      ${STEPS.map(([key, label], index) => html`
        <li key=${key} class=${index < at || (index === at && status === "ISSUED") ? "done" : index === at ? "current" : ""}
          aria-current=${index === at ? "step" : undefined}>
          ${index === 1 && status === "REJECTED" ? "Needs changes" : index === 2 && status === "APPROVED" ? "Approved, being issued" : label}</li>`)}
    </ol>`;
}

/** The notifications, newest first, and ``fresh``: the IDs of those that arrived live while the page is open. */
function useNotifications() {
  const [notifications, setNotifications] = useState([]);
  const [fresh, setFresh] = useState(() => new Set());
  const asked = useRef(new Set());
  const reads = useRef(0);
  const load = useCallback(async () => {
    const read = ++reads.current;
    try {
      const {notifications: list} = await graphql(NOTIFICATIONS);
      if (read !== reads.current) return; // a newer read is on its way: an older answer never overwrites it
      setNotifications(list.edges.map((edge) => edge.node));
    } catch {
      // The list is extra; the claim itself says what is wrong.
    }
  }, []);
  const received = useCallback((notification) => {
    setNotifications((old) => [notification, ...old.filter((n) => n.id !== notification.id)]);
    setFresh((old) => new Set(old).add(notification.id));
  }, []);
  useEffect(() => {
    // Shown while the page is in view: seen. A page opened in a background tab waits until it is looked at.
    const markSeen = async () => {
      const ids = notifications.filter((n) => !n.readAt && !asked.current.has(n.id)).map((n) => n.id);
      if (document.visibilityState !== "visible" || !ids.length) return;
      ids.forEach((id) => asked.current.add(id));
      try {
        const {markNotificationsRead: marked} = await graphql(MARK_READ, {ids});
        if (marked.errors.length) throw new Error(marked.errors[0].message);
        const now = new Date().toISOString();
        setNotifications((old) => old.map((n) => (ids.includes(n.id) ? {...n, readAt: n.readAt || now} : n)));
      } catch {
        ids.forEach((id) => asked.current.delete(id)); // asked again when next shown
      }
    };
    markSeen();
    document.addEventListener("visibilitychange", markSeen);
    return () => document.removeEventListener("visibilitychange", markSeen);
  }, [notifications]);
  return {notifications, fresh, load, received};
}

/** What the test taker knows the sitting by: where, when and how well (and which test, where no words above say). */
function SittingFacts({sitting, named}) {
  return html`
    <dl class="facts sitting-facts" id="sitting-facts">
      ${!named && html`<dt>Test</dt><dd><bdi dir="auto">${sitting.test.name}</bdi></dd>`}
      <dt>Organisation</dt><dd><bdi dir="auto" id="organisation-name">${sitting.organisation.name}</bdi></dd>
      <dt>Taken</dt><dd id="taken-at">${utcMinute(sitting.takenAt)}</dd>
      <dt>Score</dt><dd id="score">${scoreText(sitting)}</dd>
    </dl>`;
}

function Claim({session}) {
  const [sitting, setSitting] = useState(null);
  const [problem, setProblem] = useState("");
  const [live, setLive] = useState("connecting");
  const {notifications, fresh, load: loadNotifications, received} = useNotifications();
  const reads = useRef(0);
  const load = useCallback(async () => {
    const read = ++reads.current;
    try {
      const {node} = await graphql(SITTING, {id: SHELL.id});
      if (read !== reads.current) return; // a newer read is on its way: an older answer never overwrites it
      if (!node || !node.test) {
        setProblem("No sitting of this account has this link: sign in with the account you took the test with.");
        return;
      }
      setProblem("");
      setSitting(node);
    } catch (error) {
      if (read === reads.current && error.code !== "UNAUTHENTICATED") setProblem(`Your certificate could not be loaded: ${error.message}`);
    }
  }, []);

  useEffect(() => {
    load();
    loadNotifications();
    return subscribe(RECEIVED, {
      onData: (data) => {
        received(data.notificationReceived);
        load();
      },
      onStatus: setLive,
      onReconnect: () => {
        load();
        loadNotifications();
      },
    });
  }, [load, loadNotifications, received]);

  const onClaimed = (certificate) => {
    setSitting((old) => ({...old, certificate: {...old.certificate, ...certificate}}));
    load();
  };
  const certificate = sitting?.certificate;
  const status = certificate?.status;
  const claimable = status === "AWAITING_CLAIM" || status === "REJECTED";
  const issued = status === "ISSUED" || status === "REVOKED";
  const message = problem || (sitting ? said(sitting) : "Finding your certificate…");
  const none = sitting && !certificate;
  const error = Boolean(problem) || status === "REVOKED" || status === "LAPSED" || sitting?.status === "INELIGIBLE";
  return html`
    <${SessionBar} title=${none ? NO_CERTIFICATE_TITLE : TITLE} session=${session}>
      <span class=${`live ${live}`} id="live-status" role="status">
        ${live === "live" ? "Live" : live === "connecting" ? "Connecting…" : "Reconnecting…"}
      </span>
      <${ToMyCertificates} />
    <//>
    <div class="holder-columns">
      <main class="page holder-page claim-page">
        ${sitting && !issued && html`<p class="claim-intro">${none ? "Your result for " : "Your certificate for "}<bdi dir="auto" id="test-name">${sitting.test.name}</bdi>.
          ${claimable && " Confirm the name to print on it and upload a photo of yourself."}</p>`}
        ${sitting && html`<${SittingFacts} sitting=${sitting} named=${!issued} />`}
        <${Progress} status=${status} />
        <p class=${error ? "notice error" : "notice status-message"} role="status" id="message">${message}</p>
        ${none && html`<p><a id="message-link" href="/me">See all your results in My certificates</a></p>`}
        ${(status === "UNDER_REVIEW" || status === "APPROVED") && certificate.holderName && html`
          <p id="sent-name">The name to print: <bdi dir="auto" class="sent-name">${certificate.holderName}</bdi></p>`}
        ${status === "REJECTED" && html`
          <div class="rejection" id="rejection">
            <p class="rejection-label">The security team's reason</p>
            <p class="rejection-reason" id="rejection-reason" dir="auto">${sentence(certificate.rejectionReason)}</p>
          </div>`}
        ${claimable && certificate.claimDeadline && html`<p class="hint" id="claim-deadline">Claim it by ${utcMinute(certificate.claimDeadline)}.</p>`}
        ${claimable && html`<${ClaimForm} key=${`${certificate.id}-${status}`} sittingId=${SHELL.id} testName=${sitting.test.name}
          resubmit=${status === "REJECTED"} initialName=${certificate.holderName} onClaimed=${onClaimed} />`}
        ${issued && certificate.pdfUrl && html`<${Downloads} certificate=${certificate} />`}
      </main>
      <aside class="page holder-aside">
        <${Notifications} notifications=${notifications} fresh=${fresh} />
      </aside>
    </div>`;
}

function App() {
  const session = useSession();
  return html`
    <${HolderGate} title=${TITLE} session=${session}
      purpose="To claim your certificate, sign in with the account you took the test with.">
      <${Claim} key=${session?.token} session=${session} />
    <//>`;
}

// The shell's loading words go: Preact would otherwise keep the nodes it does not reuse.
const root = document.getElementById("app");
root.replaceChildren();
render(html`<${App} />`, root);
