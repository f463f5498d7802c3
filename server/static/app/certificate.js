// The downloads page (GET /certificates/{Certificate ID}): signs the holder in and links to fresh PDF and PNG URLs.
//
// The signed URLs last CERTIFY_SIGNED_URL_TTL_SECONDS, so they are asked for each time the page opens
// and never kept in the shell or an e-mail.

import {useEffect, useState} from "../vendor/preact/hooks.js";
import {graphql} from "./api.js";
import {Downloads, HolderGate, SHELL, ToMyCertificates, useSession} from "./holder.js";
import {SessionBar, html, render} from "./view.js";

const TITLE = "Your certificate";
const CERTIFICATE = `query HolderCertificate($id: ID!) {
  node(id: $id) { ... on Certificate { id status holderName verificationCode pdfUrl pngUrl sitting { test { name } } } }
}`;

function Certificate({session}) {
  const [state, setState] = useState({certificate: null, message: "Finding your certificate…", error: false});
  useEffect(() => {
    graphql(CERTIFICATE, {id: SHELL.id})
      .then(({node}) => {
        if (!node || !node.status) {
          setState({certificate: null, error: true, message:
            "No certificate of this account has this link: sign in with the account you took the test with."});
        } else if (!node.pdfUrl) {
          setState({certificate: null, error: false, message: "This certificate has not been issued yet: we e-mail you when it is."});
        } else {
          const revoked = node.status === "REVOKED";
          setState({certificate: node, error: revoked, message: revoked ? "This certificate has been revoked: it is no longer valid." : ""});
        }
      })
      .catch((error) => error.code !== "UNAUTHENTICATED" && setState({certificate: null, error: true, message: error.message}));
  }, []);
  return html`
    <${SessionBar} title=${TITLE} session=${session}><${ToMyCertificates} /><//>
    <main class="page holder-page">
      <p class=${state.error ? "notice error" : "notice"} role="status" id="message">${state.message}</p>
      ${state.certificate && html`<${Downloads} certificate=${state.certificate} />`}
    </main>`;
}

function App() {
  const session = useSession();
  return html`
    <${HolderGate} title=${TITLE} session=${session}
      purpose="To download your certificate, sign in with the account you took the test with.">
      <${Certificate} key=${session?.token} session=${session} />
    <//>`;
}

// The shell's loading words go: Preact would otherwise keep the nodes it does not reuse.
const root = document.getElementById("app");
root.replaceChildren();
render(html`<${App} />`, root);
