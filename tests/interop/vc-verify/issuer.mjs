// Issuing with Digital Bazaar's libraries, for the self-test and the fixtures:
// did:web issuer keys and DID documents, Open Badges 3.0 credentials and
// BitstringStatusListCredentials, all signed with a DataIntegrityProof
// (eddsa-rdfc-2022).
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022CryptoSuite} from
  '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {createList, createCredential} from
  '@digitalbazaar/vc-bitstring-status-list';
import {
  DID_V1_CONTEXT_URL, MULTIKEY_V1_CONTEXT_URL, OB_V3_CONTEXT_URL,
  VC_V2_CONTEXT_URL, makeDocumentLoader
} from './lib.mjs';

export const STATUS_LIST_LENGTH = 131072;

/**
 * A did:web issuer: an Ed25519 Multikey key pair and its DID document.
 *
 * @param {object} options - Options.
 * @param {string} options.did - The issuer's did:web DID.
 * @param {Uint8Array} [options.seed] - 32 bytes, for a reproducible key.
 */
export async function makeIssuer({did, seed}) {
  const key = await Ed25519Multikey.generate({
    id: `${did}#key-1`, controller: did, seed
  });
  const publicKey = await key.export({publicKey: true, includeContext: false});
  const didDocument = {
    '@context': [DID_V1_CONTEXT_URL, MULTIKEY_V1_CONTEXT_URL],
    id: did,
    verificationMethod: [{
      id: publicKey.id,
      type: 'Multikey',
      controller: did,
      publicKeyMultibase: publicKey.publicKeyMultibase
    }],
    assertionMethod: [publicKey.id],
    authentication: [publicKey.id]
  };
  const documentLoader = makeDocumentLoader(
    {didDocuments: new Map([[did, didDocument]])});
  return {did, key, didDocument, documentLoader};
}

// `date`: the proof's "created" (default: now)
export async function sign(issuer, credential, {date} = {}) {
  const suite = new DataIntegrityProof({
    signer: issuer.key.signer(), cryptosuite: eddsaRdfc2022CryptoSuite,
    ...(date ? {date} : {})
  });
  return vc.issue({
    credential: structuredClone(credential), suite,
    documentLoader: issuer.documentLoader
  });
}

/**
 * A signed BitstringStatusListCredential (statusPurpose "revocation") of
 * STATUS_LIST_LENGTH bits, GZIP-compressed and multibase (base64url, "u")
 * encoded, with the bits at `revoked` set.
 */
export async function makeStatusList(issuer, {
  url, revoked = [], validFrom = new Date().toISOString(), date
}) {
  const list = await createList({length: STATUS_LIST_LENGTH});
  for(const index of revoked) {
    list.setStatus(index, true);
  }
  const credential = await createCredential(
    {id: url, list, statusPurpose: 'revocation'});
  credential.issuer = issuer.did;
  credential.validFrom = validFrom;
  return sign(issuer, credential, {date});
}

/**
 * An unsigned OpenBadgeCredential (OB 3.0 on VC 2.0) with an
 * AchievementSubject and a BitstringStatusListEntry.
 */
export function openBadgeCredential({
  issuer, id, subjectId, achievementId, name, description, criteria,
  validFrom, validUntil, statusListUrl, statusListIndex, issuerName
}) {
  const credential = {
    '@context': [VC_V2_CONTEXT_URL, OB_V3_CONTEXT_URL],
    id,
    type: ['VerifiableCredential', 'OpenBadgeCredential'],
    name,
    issuer: {
      id: issuer.did,
      type: ['Profile'],
      name: issuerName
    },
    validFrom,
    credentialSubject: {
      id: subjectId,
      type: ['AchievementSubject'],
      achievement: {
        id: achievementId,
        type: ['Achievement'],
        name,
        description,
        criteria: {narrative: criteria}
      }
    }
  };
  if(validUntil) {
    credential.validUntil = validUntil;
  }
  if(statusListUrl) {
    credential.credentialStatus = {
      id: `${statusListUrl}#${statusListIndex}`,
      type: 'BitstringStatusListEntry',
      statusPurpose: 'revocation',
      statusListIndex: String(statusListIndex),
      statusListCredential: statusListUrl
    };
  }
  return credential;
}
