#!/usr/bin/env node
// Self-test of verify.mjs: issues Open Badges 3.0 credentials with Digital
// Bazaar's libraries, serves the did:web DID documents and a signed
// BitstringStatusListCredential from a local HTTP server on a free port of
// 127.0.0.1, and runs verify.mjs (as a separate process, as its users do) on
// a valid, a tampered, a revoked and an expired credential, among others.
//
// Usage: node tests/interop/vc-verify/selftest.mjs
import {execFile} from 'node:child_process';
import {createServer} from 'node:http';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {readFile} from 'node:fs/promises';
import * as vc from '@digitalbazaar/vc';
import {
  DID_V1_CONTEXT_URL, MULTIKEY_V1_CONTEXT_URL, didWebToUrl, makeDocumentLoader,
  makeSuite
} from './lib.mjs';
import {makeIssuer, makeStatusList, openBadgeCredential, sign} from
  './issuer.mjs';

const VERIFY = fileURLToPath(new URL('./verify.mjs', import.meta.url));

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if(ok) {
    passed++;
    console.log(`ok - ${name}`);
  } else {
    failed++;
    console.log(`FAIL - ${name}${detail ? `: ${detail}` : ''}`);
  }
}

function runVerify(args) {
  return new Promise(resolve => {
    execFile(process.execPath, [VERIFY, ...args], {timeout: 60000},
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code :
          -1) : 0;
        let output = null;
        try {
          output = JSON.parse(stdout);
        } catch{}
        resolve({code, stdout, stderr, output});
      });
  });
}

// did:web -> URL, per the did:web specification's examples
const urlCases = [
  ['did:web:w3c-ccg.github.io', false,
    'https://w3c-ccg.github.io/.well-known/did.json'],
  ['did:web:w3c-ccg.github.io:user:alice', false,
    'https://w3c-ccg.github.io/user/alice/did.json'],
  ['did:web:example.com%3A3000:user:alice', false,
    'https://example.com:3000/user/alice/did.json'],
  ['did:web:127.0.0.1%3A8080', true, 'http://127.0.0.1:8080/.well-known/did.json'],
  ['did:web:127.0.0.1%3A8080:orgs:demo', true,
    'http://127.0.0.1:8080/orgs/demo/did.json'],
  ['did:web:example.com%3A443:a%20b', false,
    'https://example.com/a%20b/did.json'],
];
for(const [did, http, expected] of urlCases) {
  let got;
  try {
    got = didWebToUrl(did, {http});
  } catch(e) {
    got = e.message;
  }
  check(`did:web URL ${did}${http ? ' (--http)' : ''}`, got === expected,
    `got ${got}`);
}
for(const bad of ['did:web:', 'did:web:a::b', 'did:web:a%2Fb', 'did:key:z6Mk',
  'did:web:user%40example.com', 'did:web:example.com:..']) {
  let threw = false;
  try {
    didWebToUrl(bad);
  } catch{
    threw = true;
  }
  check(`did:web URL refuses ${bad}`, threw);
}

// 1EdTech's signed Open Badges 3.0 test vector (eddsa-rdfc-2022), with the
// Multikey its page gives (its verification method is an https URL, not a
// DID, so this checks the libraries, not verify.mjs's resolver)
{
  const vector = JSON.parse(await readFile(new URL(
    '../../data/credentials/ob3-examples/signed-eddsa-rdfc-2022.json',
    import.meta.url), 'utf8'));
  const controller = 'https://example.edu/issuers/565049';
  const publicKeyMultibase = 'z6MkjZRZv3aez3r18pB1RBFJR1kwUVJ5jHt92JmQwXbd5hwi';
  const vm = {
    '@context': MULTIKEY_V1_CONTEXT_URL, id: `${controller}#${publicKeyMultibase}`,
    type: 'Multikey', controller, publicKeyMultibase
  };
  const controllerDoc = {
    '@context': [DID_V1_CONTEXT_URL, MULTIKEY_V1_CONTEXT_URL],
    id: controller, verificationMethod: [vm], assertionMethod: [vm.id]
  };
  const contexts = makeDocumentLoader();
  const documentLoader = async url => url === vm.id ?
    {documentUrl: url, document: vm} : url === controller ?
      {documentUrl: url, document: controllerDoc} : contexts(url);
  const ok = await vc.verifyCredential(
    {credential: vector, suite: makeSuite(), documentLoader});
  check('1EdTech signed OB 3.0 test vector verifies', ok.verified === true,
    ok.error?.message);
  const bad = await vc.verifyCredential({
    credential: {...vector, name: 'Tampered'}, suite: makeSuite(),
    documentLoader
  });
  check('1EdTech test vector with a changed name does not',
    bad.verified === false);
}

// the HTTP server: routes are filled in once the port is known
const routes = new Map();
const requests = [];
const server = createServer((req, res) => {
  requests.push(req.url);
  const body = routes.get(req.url);
  if(body === undefined) {
    res.writeHead(404, {'content-type': 'text/plain'});
    res.end('not found');
    return;
  }
  res.writeHead(200, {'content-type': 'application/json'});
  res.end(JSON.stringify(body));
});
await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));
const {port} = server.address();
const base = `http://127.0.0.1:${port}`;
const dir = await mkdtemp(join(tmpdir(), 'vc-verify-selftest-'));

try {
  const issuer = await makeIssuer(
    {did: `did:web:127.0.0.1%3A${port}:orgs:demo`});
  routes.set('/orgs/demo/did.json', issuer.didDocument);
  // a second issuer whose DID has no path: /.well-known/did.json
  const rootIssuer = await makeIssuer({did: `did:web:127.0.0.1%3A${port}`});
  routes.set('/.well-known/did.json', rootIssuer.didDocument);

  const statusUrl = `${base}/credentials/status/1`;
  const revokedIndex = 94567;
  routes.set('/credentials/status/1', await makeStatusList(
    issuer, {url: statusUrl, revoked: [revokedIndex]}));
  const rootStatusUrl = `${base}/credentials/status/root`;
  routes.set('/credentials/status/root', await makeStatusList(
    rootIssuer, {url: rootStatusUrl}));

  const now = Date.now();
  const day = 24 * 3600 * 1000;
  const badge = (overrides = {}) => openBadgeCredential({
    issuer,
    issuerName: 'Certify Demo Issuer',
    id: `urn:uuid:${crypto.randomUUID()}`,
    subjectId: 'did:example:learner-1',
    achievementId: `${base}/achievements/b2`,
    name: 'English B2',
    description: 'Passed the English B2 certification test.',
    criteria: 'Score of at least 160 on the English B2 test.',
    validFrom: new Date(now - day).toISOString(),
    validUntil: new Date(now + 365 * day).toISOString(),
    statusListUrl: statusUrl,
    statusListIndex: 1234,
    ...overrides
  });

  async function write(name, json) {
    const path = join(dir, `${name}.json`);
    await writeFile(path, JSON.stringify(json, null, 2));
    return path;
  }
  async function expect(name, credential, want, {args = ['--http']} = {}) {
    const path = await write(name.replace(/\W+/g, '-'), credential);
    const r = await runVerify([path, ...args]);
    const o = r.output;
    const problems = [];
    if(!o) {
      problems.push(`stdout not one JSON line: ${JSON.stringify(r.stdout)}`);
    } else {
      for(const [k, v] of Object.entries(want)) {
        if(k !== 'code' && o[k] !== v) {
          problems.push(`${k}=${JSON.stringify(o[k])}, wanted ${v}`);
        }
      }
      if(!Array.isArray(o.errors)) {
        problems.push('errors not an array');
      }
    }
    if(r.code !== want.code) {
      problems.push(`exit ${r.code}, wanted ${want.code}`);
    }
    check(name, problems.length === 0,
      problems.join('; ') + (problems.length ? ` — ${r.stdout}${r.stderr}` :
        ''));
    console.log(`    ${r.stdout.trim()}`);
    return r;
  }

  const valid = await sign(issuer, badge());
  await expect('valid credential verifies', valid,
    {verified: true, revoked: false, expired: false, code: 0});

  await expect('credential without credentialStatus: revoked null',
    await sign(issuer, badge({statusListUrl: null})),
    {verified: true, revoked: null, expired: false, code: 0});

  const tampered = structuredClone(valid);
  tampered.credentialSubject.achievement.name = 'English C2';
  await expect('tampered achievement name does not verify', tampered,
    {verified: false, code: 1});

  const tamperedTop = structuredClone(valid);
  tamperedTop.name = 'English C2';
  await expect('tampered credential name does not verify', tamperedTop,
    {verified: false, code: 1});

  const revoked = await sign(issuer, badge({statusListIndex: revokedIndex}));
  await expect('credential whose status bit is set is revoked', revoked,
    {verified: true, revoked: true, expired: false, code: 1});

  const expired = await sign(issuer, badge({
    validFrom: new Date(now - 30 * day).toISOString(),
    validUntil: new Date(now - day).toISOString()
  }));
  await expect('credential past validUntil is expired', expired,
    {verified: false, expired: true, code: 1});

  const notYet = await sign(issuer, badge({
    validFrom: new Date(now + day).toISOString()
  }));
  await expect('credential before validFrom does not verify', notYet,
    {verified: false, expired: false, code: 1});

  const rootValid = await sign(rootIssuer, badge({
    issuer: rootIssuer, statusListUrl: rootStatusUrl
  }));
  await expect('issuer DID without path (/.well-known/did.json)', rootValid,
    {verified: true, revoked: false, expired: false, code: 0});

  // a DID document with relative DID URLs ("#key-1")
  const relIssuer = await makeIssuer(
    {did: `did:web:127.0.0.1%3A${port}:orgs:relative`});
  const relDoc = structuredClone(relIssuer.didDocument);
  relDoc.verificationMethod[0].id = '#key-1';
  relDoc.assertionMethod = ['#key-1'];
  relDoc.authentication = ['#key-1'];
  routes.set('/orgs/relative/did.json', relDoc);
  const relStatusUrl = `${base}/credentials/status/relative`;
  routes.set('/credentials/status/relative',
    await makeStatusList(relIssuer, {url: relStatusUrl}));
  await expect('DID document with relative verification method ids',
    await sign(relIssuer, badge({issuer: relIssuer,
      statusListUrl: relStatusUrl})),
    {verified: true, revoked: false, expired: false, code: 0});

  // a key that is in the DID document but not under assertionMethod
  const authOnly = await makeIssuer(
    {did: `did:web:127.0.0.1%3A${port}:orgs:auth-only`});
  routes.set('/orgs/auth-only/did.json',
    {...authOnly.didDocument, assertionMethod: []});
  await expect('key not listed under assertionMethod does not verify',
    await sign(authOnly, badge({issuer: authOnly, statusListUrl: null})),
    {verified: false, code: 1});

  // signed with the root issuer's key but naming the /orgs/demo issuer
  const wrongIssuer = await sign(rootIssuer, badge());
  await expect('issuer not the key controller does not verify', wrongIssuer,
    {verified: false, code: 1});

  // its status list is issued by another issuer
  const foreignList = await sign(issuer, badge({statusListUrl: rootStatusUrl}));
  await expect('status list of another issuer does not verify', foreignList,
    {verified: false, code: 1});

  // a status list whose bits were changed after signing
  routes.set('/credentials/status/forged', {
    ...structuredClone(routes.get('/credentials/status/1')),
    id: `${base}/credentials/status/forged`
  });
  const forgedList = await sign(issuer, badge({
    statusListUrl: `${base}/credentials/status/forged`
  }));
  await expect('status list altered after signing does not verify',
    forgedList, {verified: false, revoked: null, code: 1});

  const unknownContext = await sign(issuer, badge());
  unknownContext['@context'] = [
    ...unknownContext['@context'], `${base}/contexts/evil.json`];
  routes.set('/contexts/evil.json', {'@context': {}});
  const before = requests.length;
  await expect('credential with an unbundled context is refused',
    unknownContext, {verified: false, code: 1});
  check('unbundled context was never fetched',
    !requests.slice(before).includes('/contexts/evil.json'));

  await expect('without --http the DID is looked up over https (fails here)',
    valid, {verified: false, code: 1}, {args: []});

  const offline = await sign(issuer, badge());
  await expect('offline with --did-document and --status-list', offline,
    {verified: true, revoked: false, expired: false, code: 0}, {args: [
      '--did-document', await write('did', issuer.didDocument),
      '--status-list', await write('sl', routes.get('/credentials/status/1'))
    ]});

  const data = fileURLToPath(new URL('../../data/credentials/',
    import.meta.url));
  const fixture = await runVerify([
    join(data, 'js-signed-credential.json'),
    '--did-document', join(data, 'js-did-document.json'),
    '--status-list', join(data, 'js-status-list.json')]);
  check('committed fixture js-signed-credential.json verifies offline',
    fixture.code === 0 && fixture.output?.verified === true &&
    fixture.output?.revoked === false, fixture.stdout);

  const noArgs = await runVerify([]);
  check('no arguments is a usage error (exit 2)', noArgs.code === 2,
    `exit ${noArgs.code}`);
  const badOption = await runVerify([join(dir, 'x.json'), '--bogus']);
  check('unknown option is a usage error (exit 2)', badOption.code === 2,
    `exit ${badOption.code}`);
} finally {
  server.close();
  await rm(dir, {recursive: true, force: true});
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
