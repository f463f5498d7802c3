"""A realistic demo data set: organisations, tests, thousands of sittings and eight months of certification.

Test takers get names from Faker in many locales (Latin, Cyrillic, Greek,
Arabic, Hebrew, Devanagari, Bengali, Tamil, Thai, Armenian, Georgian, CJK,
Hangul scripts); sittings come in exam sessions over the last eight months,
so many share the exact same ``taken_at``. On top of them
:mod:`demo.history` plans what the workflow did meanwhile and
:mod:`demo.records` writes it: admins certified batches of eligible
sittings (about half of them; the rest stay UNSELECTED for the dashboard),
the ledger holds their credits and the purchases that paid for them, and
the certificates were claimed, rejected, claimed again and approved.
Everything derives from ``seed`` and ``now`` (storage keys, batch ids and
verification codes included), and the whole set is written in one transaction.

Then :mod:`demo.lifecycle` runs the lifecycle job over the history, once a
day of it: claim reminders, lapsed claims with their refunds, expired
sittings, as the job writes them.

No certificate is ISSUED when :func:`seed_demo` ends. An issued certificate
offers its PDF and PNG (``pdfUrl`` / ``pngUrl``), and a signed URL whose
stored file is missing answers 403 (``resolvers.certificate_files``); only
the renderer makes those files (Chromium, about ten a second), far too slow
for thousands in the seed, and files made any other way would not be the
certificate. So the history stops short of issuing: the latest claims
(``HistoryPolicy.approvals``, 15 in all) and a few of the backlog
(:func:`demo.certificates.approve_some`) are APPROVED with a verification
code and a render due since the approval, exactly what
``approveCertificate`` leaves. ``certify seed-demo`` then issues them with
Chromium (:mod:`demo.issuing`: real ISSUED certificates with files, a
SHA-256, a verification page and the issue e-mail) and revokes two; without
Chromium, ``certify serve`` renders them when it starts
(``workers/rendering.py``). Older claims that no reviewer rejected are still
waiting in the review queue (a backlog), since their approval would have
been issued long ago. Until they are issued, ``certificationFunnel`` counts
the approved ones as claimed, not issued; then ``issued`` and
``medianSecondsToIssue`` measure those renders, from the first claim to the issue.
"""

from __future__ import annotations

import asyncio
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from faker import Faker
from faker.config import AVAILABLE_LOCALES

from adapters.storage import FileStorage
from demo.history import HistoryPolicy, OrganisationHistory, plan_history
from demo.lifecycle import replay_lifecycle
from demo.photos import delete_photos, demo_photos, store_photos
from demo.records import photos_to_store, write_history
from models import Certificate, Organisation, Sitting, Test, TestTaker
from models.enums import CertificationStatus, PhotoCheck
from resolvers.lifecycle_policy import DEFAULT_POLICY, LifecyclePolicy, expires_at
from resolvers.recording import decide_eligibility
from resolvers.sql import chunks, transaction

BATCH_SIZE = 1000
SPAN = timedelta(days=243)  # about eight months
# The organisations and tests exist a week before the first sitting.
LEAD = timedelta(days=7)
SCORE_MEAN, SCORE_SD = 68, 15
PHOTO_FAILURE_RATE = 0.03
# RFC 2606: never deliverable.
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
SAMPLE_SIZE = 5


@dataclass(frozen=True, slots=True)
class _DemoOrganisation:
    name: str
    share: float  # sittings relative to the main organisation's
    history: HistoryPolicy


@dataclass(frozen=True, slots=True)
class _DemoTest:
    name: str
    min_certifiable_score: int
    cefr_mapping: dict[str, int] | None  # level -> minimum score
    weight: int
    validity_months: int | None = None  # None: the certificate never expires


ORGANISATIONS = (
    _DemoOrganisation(
        "Northwind Language Centre",
        1.0,
        HistoryPolicy(("demo-admin", "northwind-registrar"), 500, 400, 300, 0.6, 12),
    ),
    _DemoOrganisation(
        "Aurora Skills Institute",
        0.08,
        HistoryPolicy(("aurora-admin",), 200, 100, 100, 0.25, 3),
    ),
)
MAIN_ORGANISATION = ORGANISATIONS[0].name

TESTS = (
    # Two years, as most English tests; six months for the speaking test, so that within the
    # demo's eight months some of its sittings have expired and some certificates are about to.
    # A B2 test reports B2 for a pass (and B1 below it, which is not certifiable), never C1.
    _DemoTest("English B2 Academic", 60, {"B1": 40, "B2": 60}, 5, validity_months=24),
    _DemoTest("Deutsch Zertifikat B1", 60, {"A2": 40, "B1": 60}, 2),
    _DemoTest("Español DELE A2", 50, {"A1": 30, "A2": 50}, 2),
    _DemoTest("IELTS-style Speaking", 55, None, 1, validity_months=6),
)

# Faker locale -> relative frequency among candidates. Locales that this
# Faker lacks are skipped.
NAME_LOCALES: dict[str, int] = {
    "en_GB": 14, "fr_FR": 8, "de_DE": 8, "es_ES": 7, "pt_BR": 5, "it_IT": 3, "nl_NL": 2,
    "pl_PL": 4, "cs_CZ": 2, "sv_SE": 1, "tr_TR": 4, "vi_VN": 3, "ru_RU": 4, "uk_UA": 4,
    "el_GR": 3, "ar_AA": 5, "fa_IR": 3, "he_IL": 3, "hi_IN": 4, "bn_BD": 2, "ta_IN": 2,
    "th_TH": 2, "ja_JP": 4, "zh_CN": 5, "zh_TW": 2, "ko_KR": 3, "hy_AM": 1, "ka_GE": 1,
}  # fmt: skip
# BCP 47 tag stored on the test taker when it differs from the Faker locale.
_LANGUAGE_TAGS = {"ar_AA": "ar"}


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What the demo database holds.

    ``created`` is False when the demo already existed and nothing was
    written. ``sample_test_taker_ids`` are a few test takers of the main
    organisation with a certifiable (UNSELECTED) sitting (handy for tokens).
    ``certificate_counts``: the demo's certificates per status value
    (APPROVED ones are issued by the render worker once the server runs).
    """

    created: bool
    organisation_ids: dict[str, int]
    test_ids: dict[str, int]
    sample_test_taker_ids: list[int]
    sitting_counts: dict[str, int]  # demo sittings per organisation name
    test_taker_count: int
    certificate_counts: dict[str, int]

    @property
    def main_organisation_id(self) -> int:
        return self.organisation_ids[MAIN_ORGANISATION]


@dataclass(frozen=True, slots=True)
class _Person:
    name: str
    email: str
    locale: str


async def seed_demo(
    *,
    storage: FileStorage,
    sittings: int = 6000,
    seed: int = 2026,
    now: datetime | None = None,
    policy: LifecyclePolicy = DEFAULT_POLICY,
) -> DemoSummary:
    """Fill the database with the demo, unless an organisation named ``MAIN_ORGANISATION`` exists.

    ``sittings`` is the main organisation's count (the second organisation
    gets about 8 % as many); ``now`` (aware, default the current time) ends the eight
    months of sittings and of their history. Claim photos go to ``storage``
    (one JPEG per claimed certificate). ``policy``: the claim window and
    reminder leads the history's certificates lived under
    (``Settings.lifecycle_policy``). Same ``seed``, ``now`` and ``policy``, same data.
    Raises ``ValueError`` for ``sittings < 1`` or a naive ``now``; a clash with
    existing rows (e-mail or external id) raises the database's
    ``IntegrityError``, writes nothing and removes the photos stored.
    """
    if sittings < 1:
        raise ValueError(f"sittings must be at least 1, got {sittings}")
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must carry a UTC offset")
    if await Organisation.filter(name=MAIN_ORGANISATION).exists():
        return await demo_summary(created=False)

    rng = random.Random(seed)
    counts = [max(1, round(sittings * org.share)) for org in ORGANISATIONS]
    people = _people(rng, seed, count=round(sum(counts) * 0.85))
    photos = await asyncio.to_thread(demo_photos)
    stored: list[tuple[str, bytes]] = []
    try:
        async with transaction():
            history_rng = random.Random(f"{seed}:history")
            histories = await _write_sittings(rng, history_rng, people, counts, now=now, policy=policy)
            stored = photos_to_store(histories, photos)
            await store_photos(storage, stored)
            tests = {test.id: test for test in await Test.filter(name__in=[t.name for t in TESTS])}
            await write_history(histories, tests=tests, photos=photos)
    except BaseException:
        await delete_photos(storage, [key for key, _ in stored])
        raise
    organisation_ids = [history.organisation_id for history in histories]
    await replay_lifecycle(start=now - SPAN - LEAD, now=now, organisation_ids=organisation_ids, policy=policy)
    return await demo_summary(created=True)


async def _write_sittings(
    rng: random.Random,
    history_rng: random.Random,
    people: Sequence[_Person],
    counts: Sequence[int],
    *,
    now: datetime,
    policy: LifecyclePolicy,
) -> list[OrganisationHistory]:
    """Create the organisations, tests, test takers and sittings; return each organisation's planned history.

    The sittings are stored as their history leaves them (certified or not);
    the rest of the history is for :func:`demo.records.write_history`.
    """
    start = now - SPAN - LEAD
    organisations = [await Organisation.create(name=org.name, created_at=start) for org in ORGANISATIONS]
    tests = [
        await Test.create(
            name=t.name,
            score_max=100,
            min_certifiable_score=t.min_certifiable_score,
            cefr_mapping=t.cefr_mapping,
            validity_months=t.validity_months,
            created_at=start,
        )
        for t in TESTS
    ]
    taker_ids = await _create_test_takers(people)
    names = dict(zip(taker_ids, (p.name for p in people), strict=True))
    takers = _candidates(rng, taker_ids)
    rows: list[Sitting] = []
    histories = []
    for spec, organisation, count in zip(ORGANISATIONS, organisations, counts, strict=True):
        own = _sittings(rng, organisation, tests, takers, count=count, first=len(rows) + 1, now=now)
        histories.append(
            plan_history(
                history_rng,
                organisation_id=organisation.id,
                policy=spec.history,
                sittings=own,
                names=names,
                start=start,
                now=now,
                lifecycle=policy,
            )
        )
        rows.extend(own)
    for batch in chunks(rows, BATCH_SIZE):
        await Sitting.bulk_create(batch)
    return histories


def _people(rng: random.Random, seed: int, *, count: int) -> list[_Person]:
    locales = [locale for locale in NAME_LOCALES if locale in AVAILABLE_LOCALES]
    fakers = {}
    for index, locale in enumerate(locales):
        fakers[locale] = Faker(locale)
        fakers[locale].seed_instance(seed * 1000 + index)
    weights = [NAME_LOCALES[locale] for locale in locales]
    people = []
    for number, locale in enumerate(rng.choices(locales, weights, k=count), start=1):
        fake = fakers[locale]
        local_part = re.sub(r"[^a-z0-9]+", ".", fake.user_name().lower()).strip(".") or "candidate"
        # People type their address with capitals; email_key folds them.
        if rng.random() < 0.1:
            local_part = local_part.capitalize()
        people.append(
            _Person(
                name=unicodedata.normalize("NFC", fake.name()),
                email=f"{local_part}.{number:05d}@{rng.choice(EMAIL_DOMAINS)}",
                locale=_LANGUAGE_TAGS.get(locale, locale.replace("_", "-")),
            )
        )
    return people


async def _create_test_takers(people: Sequence[_Person]) -> list[int]:
    """Insert ``people``; return their ids in the same order."""
    for batch in chunks(people, BATCH_SIZE):
        await TestTaker.bulk_create([TestTaker.for_person(name=p.name, email=p.email, locale=p.locale) for p in batch])
    ids: dict[str, int] = {}
    # bulk_create does not report ids; read them back by the unique key.
    for batch in chunks([p.email.casefold() for p in people], 500):
        ids.update(await TestTaker.filter(email_key__in=batch).values_list("email_key", "id"))
    return [ids[p.email.casefold()] for p in people]


def _candidates(rng: random.Random, taker_ids: list[int]) -> Iterator[int]:
    """Every test taker once, in random order, then random ones again (retakes, other tests)."""
    first_sittings = list(taker_ids)
    rng.shuffle(first_sittings)
    yield from first_sittings
    while True:
        yield rng.choice(taker_ids)


def _sittings(
    rng: random.Random,
    organisation: Organisation,
    tests: Sequence[Test],
    takers: Iterator[int],
    *,
    count: int,
    first: int,
    now: datetime,
) -> list[Sitting]:
    """``count`` sittings in exam sessions: one test and one start time each, most finishing together."""
    weights = [t.weight for t in TESTS]
    rows: list[Sitting] = []
    while len(rows) < count:
        test = rng.choices(tests, weights)[0]
        finished = _session_end(rng, now)
        for _ in range(min(rng.randint(1, 40), count - len(rows))):
            taken_at = finished if rng.random() < 0.6 else finished + timedelta(seconds=rng.randint(-1800, -1))
            score = min(100, max(0, round(rng.gauss(SCORE_MEAN, SCORE_SD))))
            photo_check = PhotoCheck.FAILED if rng.random() < PHOTO_FAILURE_RATE else PhotoCheck.PASSED
            expires = expires_at(taken_at, test.validity_months)
            # Recorded minutes after it was taken: never expired then (the lifecycle job expires it later).
            reason = decide_eligibility(score, photo_check, test, expires, now=taken_at)
            rows.append(
                Sitting(
                    external_id=f"demo-{first + len(rows):06d}",
                    organisation_id=organisation.id,
                    test_taker_id=next(takers),
                    test_id=test.id,
                    taken_at=taken_at,
                    expires_at=expires,
                    score=score,
                    photo_check=photo_check,
                    status=CertificationStatus.UNSELECTED if reason is None else CertificationStatus.INELIGIBLE,
                    ineligibility_reason=reason,
                )
            )
    return rows


def _session_end(rng: random.Random, now: datetime) -> datetime:
    """A session end on a whole quarter hour, 08:00–19:45 UTC, within SPAN before now."""
    day = (now - timedelta(days=rng.randint(1, SPAN.days))).date()
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start + timedelta(hours=rng.randint(8, 19), minutes=15 * rng.randint(0, 3))


async def demo_summary(*, created: bool) -> DemoSummary:
    """What the demo database holds now (:class:`DemoSummary`); ``created`` is reported as given."""
    organisations = dict(
        await Organisation.filter(name__in=[o.name for o in ORGANISATIONS]).order_by("id").values_list("name", "id")
    )
    tests = dict(await Test.filter(name__in=[t.name for t in TESTS]).order_by("id").values_list("name", "id"))
    demo_sittings = Sitting.filter(external_id__startswith="demo-")
    sitting_counts = {
        name: await demo_sittings.filter(organisation_id=organisation_id).count()
        for name, organisation_id in organisations.items()
    }
    samples = (
        await demo_sittings.filter(
            organisation_id=organisations.get(MAIN_ORGANISATION),
            status=CertificationStatus.UNSELECTED,
        )
        .order_by("id")
        .limit(SAMPLE_SIZE * 4)
        .values_list("test_taker_id", flat=True)
    )
    takers = await TestTaker.filter(sittings__external_id__startswith="demo-").distinct().count()
    statuses = await Certificate.filter(sitting__external_id__startswith="demo-").values_list("status", flat=True)
    return DemoSummary(
        created=created,
        organisation_ids=organisations,
        test_ids=tests,
        sample_test_taker_ids=list(dict.fromkeys(samples))[:SAMPLE_SIZE],
        sitting_counts=sitting_counts,
        test_taker_count=takers,
        certificate_counts=dict(Counter(str(status) for status in statuses)),
    )
