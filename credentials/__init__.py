"""Signed credentials: every issued certificate as an Open Badges 3.0 credential anyone can verify offline.

A leaf like ``renderer``: it imports nothing of ours. The credential's
content (:mod:`credentials.badge`), its ``eddsa-rdfc-2022`` proof
(:mod:`credentials.proof`) over the bundled contexts
(:mod:`credentials.contexts`), the issuer's keys (:mod:`credentials.keys`)
and did:web identity (:mod:`credentials.did`), the revocation status list
(:mod:`credentials.status_list`), the credential baked into the PNG
(:mod:`credentials.baking`) and the fail-closed verifier
(:mod:`credentials.verifier`).
"""
