#!/usr/bin/env node
// Independent verifier of Open Badges 3.0 / VC 2.0 credentials signed with a
// DataIntegrityProof (eddsa-rdfc-2022) by a did:web issuer, with a
// BitstringStatusListEntry status; built on Digital Bazaar's libraries.
//
// Usage: node verify.mjs CREDENTIAL.json [--http]
//          [--did-document FILE] [--status-list FILE]
//
// Prints one JSON line:
//   {"verified": bool, "revoked": bool|null, "expired": bool, "errors": [...]}
// and exits 0 when verified and not revoked and not expired, 1 otherwise,
// 2 on a usage error.
//
//   --http               resolve did:web DIDs over http:// instead of https://
//   --did-document FILE  use this DID document (JSON) for the DID it names
//                        instead of resolving it over the network
//   --status-list FILE   use this status list credential (JSON) for the URL
//                        in its "id" instead of fetching it
import {readFile} from 'node:fs/promises';
import {verify} from './lib.mjs';

const USAGE = 'usage: node verify.mjs CREDENTIAL.json [--http] ' +
  '[--did-document FILE] [--status-list FILE]';

function usage(message) {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

async function readJson(path) {
  return JSON.parse(await readFile(path, 'utf8'));
}

const args = process.argv.slice(2);
let credentialPath = null;
let http = false;
const didDocumentPaths = [];
const statusListPaths = [];
for(let i = 0; i < args.length; i++) {
  const arg = args[i];
  if(arg === '--http') {
    http = true;
  } else if(arg === '--did-document' || arg === '--status-list') {
    const value = args[++i];
    if(value === undefined) {
      usage(`${arg} needs a file`);
    }
    (arg === '--did-document' ? didDocumentPaths : statusListPaths)
      .push(value);
  } else if(arg === '-h' || arg === '--help') {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  } else if(arg.startsWith('-')) {
    usage(`unknown option ${arg}`);
  } else if(credentialPath === null) {
    credentialPath = arg;
  } else {
    usage('only one credential file may be given');
  }
}
if(credentialPath === null) {
  usage('no credential file given');
}

let credential;
const didDocuments = new Map();
const statusLists = new Map();
try {
  for(const path of didDocumentPaths) {
    const doc = await readJson(path);
    didDocuments.set(doc.id, doc);
  }
  for(const path of statusListPaths) {
    const slc = await readJson(path);
    statusLists.set(slc.id, slc);
  }
} catch(e) {
  usage(`cannot read file: ${e.message}`);
}
let credentialText;
try {
  credentialText = await readFile(credentialPath, 'utf8');
} catch(e) {
  usage(`cannot read ${credentialPath}: ${e.message}`);
}
try {
  credential = JSON.parse(credentialText);
} catch(e) {
  // an unreadable or non-JSON credential is a credential that does not verify
  process.stdout.write(JSON.stringify({
    verified: false, revoked: null, expired: false,
    errors: [`cannot read credential: ${e.message}`]
  }) + '\n');
  process.exit(1);
}

const result = await verify(credential, {http, didDocuments, statusLists});
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(result.verified && result.revoked !== true && !result.expired ?
  0 : 1);
