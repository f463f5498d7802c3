#!/usr/bin/env node
// Writes the Digital Bazaar-signed fixtures of tests/data/credentials/:
//   js-signed-credential.json  an OpenBadgeCredential (OB 3.0 on VC 2.0),
//                              DataIntegrityProof eddsa-rdfc-2022, issuer
//                              did:web:issuer.example:orgs:demo
//   js-did-document.json       that DID's document
//                              (https://issuer.example/orgs/demo/did.json)
//   js-status-list.json        its BitstringStatusListCredential
//                              (https://issuer.example/credentials/status/1)
// The key comes from a fixed seed and every date is fixed, so running this
// again writes the same bytes. Each file is verified with verify.mjs's code
// before it is written.
//
// Usage: node tests/interop/vc-verify/make-fixtures.mjs [OUTPUT_DIR]
import {createHash} from 'node:crypto';
import {mkdir, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {verify} from './lib.mjs';
import {makeIssuer, makeStatusList, openBadgeCredential, sign} from
  './issuer.mjs';

const out = process.argv[2] ?? fileURLToPath(
  new URL('../../data/credentials/', import.meta.url));

export const DID = 'did:web:issuer.example:orgs:demo';
export const STATUS_LIST_URL = 'https://issuer.example/credentials/status/1';
export const STATUS_LIST_INDEX = 4242;
// bits set in the status list (the credential's own bit is not among them)
export const REVOKED_INDEXES = [7, 131071];
const SEED_TEXT = `certify test fixture issuer ${DID}`;
const PROOF_DATE = '2025-01-15T10:00:00Z';

const seed = new Uint8Array(createHash('sha256').update(SEED_TEXT).digest());
const issuer = await makeIssuer({did: DID, seed});

const statusList = await makeStatusList(issuer, {
  url: STATUS_LIST_URL, revoked: REVOKED_INDEXES,
  validFrom: '2025-01-15T10:00:00Z', date: PROOF_DATE
});

const credential = await sign(issuer, openBadgeCredential({
  issuer,
  issuerName: 'Certify Demo Issuer',
  id: 'urn:uuid:2f1b6a3e-5c4d-4e8f-9a7b-0c1d2e3f4a5b',
  subjectId: 'did:example:learner-1',
  achievementId: 'https://issuer.example/achievements/english-b2',
  name: 'English B2',
  description: 'Passed the English B2 certification test.',
  criteria: 'A score of at least 160 out of 200 on the English B2 test.',
  validFrom: '2025-01-15T10:00:00Z',
  validUntil: '2099-12-31T23:59:59Z',
  statusListUrl: STATUS_LIST_URL,
  statusListIndex: STATUS_LIST_INDEX
}), {date: PROOF_DATE});

const options = {
  didDocuments: new Map([[DID, issuer.didDocument]]),
  statusLists: new Map([[STATUS_LIST_URL, statusList]])
};
const result = await verify(credential, options);
if(!(result.verified && result.revoked === false && !result.expired)) {
  throw new Error(`fixture does not verify: ${JSON.stringify(result)}`);
}

await mkdir(out, {recursive: true});
const files = {
  'js-signed-credential.json': credential,
  'js-did-document.json': issuer.didDocument,
  'js-status-list.json': statusList
};
for(const [name, json] of Object.entries(files)) {
  await writeFile(join(out, name), JSON.stringify(json, null, 2) + '\n');
  console.log(`wrote ${join(out, name)}`);
}
