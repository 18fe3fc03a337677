"""Narratives: the words of every referral and incident, incident log entries, and the answer key
of the narrative screen.

Records with an offence coded keep the generator's disclosure-like summaries (they are the coded
rules'). Every uncoded record gets words that describe no offence, except:
- disclosures: uncoded records closed without a crime whose words describe an offence, in the
  summary or, for incidents, only in a later log entry. Each is in the key (`narrative_disclosure`);
- traps: uncoded records whose words hold a cue that is denied, feared, imagined, accidental or
  an idiom. Not in the key: a screen that flags one is wrong.

Two phrasings: `tuned`, the voices the lexicons were written beside, and `held_back`, templates the
lexicons were not tuned on, for measuring the screen honestly. Neither reuses a lexicon's own
test sentences. Draws come from a stream of their own, so the rest of a seed's extract is
unchanged. Texts are Windows-1252-safe (the force-shaped export is written in it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl

from recordcheck.checks.generate.common import DAY, US

PHRASINGS = ("tuned", "held_back")

BENIGN = np.array(
    [
        "Concern for welfare: child missing from home, returned safe and well",
        "School attendance concerns; family struggling with housing",
        "Caller worried about neighbour's mental health, asked for a visit",
        "Request for information from children's services for a strategy discussion",
        'Neighbour heard shouting; "again", they said. Officers attended, all quiet',
        "Health visitor: damp flat, £20 owed to the landlord, café meeting arranged",
        "Referral from MASH <script>alert('x')</script> & review of case",
        "Parent asks for advice about online safety settings on a tablet",
        "Youth worker concern: young person out late, not attending college",
        "Social worker reports, on home visit, child withdrawn\nschool aware, support offered",
        "Missing from home episode, found at a friend's address",
        "Housing officer concerned about hoarding and fire risk in the property",
    ],
    dtype=object,
)
LOG_ENTRIES = np.array(
    [
        "Units assigned",
        "Officer attending",
        "Caller recontacted, no answer",
        "Area search completed",
        "Words of advice given",
        "Update received from partner agency",
        "Closing log, no further police action",
        "Passed to the neighbourhood team",
    ],
    dtype=object,
)
WHO = ("the child", "the YP", "the pupil", "the girl", "the caller", "the victim", "Mum")
WHO_HELD = ("the young person", "the service user", "the 14 year old", "the informant", "the complainant")
BY = ("stepdad", "her uncle", "mum's partner", "an older male", "her ex-partner", "a man she met online", "dad")
BY_HELD = ("step-father", "the lodger", "mother's boyfriend", "a family friend", "the neighbour", "her husband")

# group -> sentences; {who} and {by} are filled in
DISCLOSURES: dict[str, dict[str, tuple[str, ...]]] = {
    "tuned": {
        "sexual_offences_children": (
            "{who} told her teacher that {by} touched her private parts at night",
            "Concerns {who} is being sexually exploited by {by}, given alcohol and drugs",
            "{by} has sent {who} sexual messages over several weeks",
        ),
        "rape": (
            "{who} states {by} raped her after a party",
            "{who} says she was forced to have sex by {by} at his flat",
        ),
        "other_sexual_offences": (
            "{who} reports {by} groped her on the bus home",
            "{by} exposed himself to {who} in the park",
        ),
        "assault_with_injury": (
            "{who} has a black eye and says {by} punched her",
            "{who} says {by} strangled her last night, marks on her neck",
        ),
        "assault_without_injury": (
            "{who} says {by} slapped her across the face",
            "{by} pushed {who} and spat at her in the street",
        ),
        "domestic_abuse": ("Ongoing domestic abuse: {by} assaulted {who} in front of the children",),
        "stalking_harassment": ("{by} keeps turning up at her house and sends abusive messages to {who}",),
        "coercive_control": ("{by} controls all the money and {who} is not allowed to see her family",),
        "threats_to_kill": ("{by} threatened to kill {who} and the children",),
        "modern_slavery": ("{who} says he was forced to work for no pay and his passport taken",),
        "child_criminal_exploitation": ("{who} found in a trap house, believed to be running drugs for {by}",),
        "indecent_images": ("Indecent images of children found on the phone of {by}",),
        "child_cruelty_neglect": ("Toddler left home alone overnight, no food in the house, {who} says",),
        "theft_criminal_damage": ("{by} smashed her phone and damaged her car, {who} says",),
    },
    "held_back": {
        "sexual_offences_children": (
            "{who} alleges {by} has been sexually abusing her since she was 9",
            "{who} disclosed inappropriate touching by {by} when babysitting",
            "{by} made {who} perform sex acts on him in the car",
            "{who} (13) is in a sexual relationship with {by}, who is 24",
        ),
        "rape": (
            "{who} reports {by} penetrated her while she was too drunk to consent",
            "{who} woke up to {by} having sex with her, she had said no earlier",
            "{who} says {by} forced himself on her and raped her twice",
        ),
        "other_sexual_offences": (
            "{who} was sexually assaulted by {by} in a taxi",
            "{by} put his hand up her skirt at work, {who} says",
            "{by} was masturbating in front of {who} at the bus stop",
        ),
        "assault_with_injury": (
            "{by} headbutted {who}, nose bleeding and swollen",
            "{who} presented at A&E with a fractured wrist after {by} twisted her arm",
            "{by} stamped on {who}'s head during the argument",
        ),
        "assault_without_injury": (
            "{by} grabbed {who} by the hair and shoved her against the wall",
            "{by} threw a mug at {who}, missed her",
            "{who} was smacked round the head by {by}",
        ),
        "domestic_abuse": (
            "Domestic violence incident, {by} hit {who} several times",
            "DA: {by} attacked {who} when he got home from the pub",
        ),
        "stalking_harassment": (
            "{by} is harassing {who} with constant calls and waiting outside her work",
            "{who} says {by} put a tracker on her car and is following her",
        ),
        "coercive_control": (
            "{by} checks her phone and tracks where she goes, {who} isolated from friends",
            "{who} not allowed out without {by}, he takes her bank card",
        ),
        "threats_to_kill": (
            "{by} said he would kill her if she left, {who} terrified",
            "{by} held a knife to {who}'s throat and said he was going to kill her",
        ),
        "modern_slavery": (
            "{who} kept locked in and made to work for no pay in a nail bar",
            "{who} believed trafficked, works at a car wash and owes them money for bringing him",
        ),
        "child_criminal_exploitation": (
            "{who} is dealing drugs for {by} to pay off a drug debt",
            "{who}'s flat has been cuckooed by {by}",
        ),
        "indecent_images": (
            "{by} asked {who} for nude photos of her on Snapchat",
            "IIOC found on a laptop seized from {by}",
        ),
        "child_cruelty_neglect": (
            "Children living in squalor, youngest malnourished and in a soiled nappy",
            "{who} says she is locked in her room without food when {by} is angry",
        ),
        "theft_criminal_damage": (
            "{by} stole her bank card and has been taking her money, {who} says",
            "{by} slashed her tyres and smashed the window, {who} says",
        ),
    },
}

# trap kind -> sentences: a cue that is not an offence against a real person
TRAPS: dict[str, dict[str, tuple[str, ...]]] = {
    "tuned": {
        "negated": (
            "{who} denies that {by} has ever hit her",
            "No disclosure of sexual abuse made during the home visit",
            "No evidence of bruising or marks on examination",
        ),
        "hypothetical": (
            "Mum advised to call 999 if {by} returns and assaults her",
            "{who} assessed as at risk of sexual exploitation",
            "Worried that {by} might hurt the children",
        ),
        "not_real": (
            "{who} upset after watching a film in which a girl is raped",
            "Awareness session on grooming delivered to year 10",
        ),
        "accidental": (
            "{who} fell off a bike and fractured her wrist",
            "Bruises on the shins from playing football",
        ),
        "idiom": (
            "Social worker to touch base with the school on Monday",
            "Things kicked off at the home over phone use, no injuries",
        ),
    },
    "held_back": {
        "negated": (
            "{who} was clear that nobody had ever touched her",
            "Paediatrician ruled out non-accidental injury",
            "{who} denied being assaulted by {by}",
        ),
        "hypothetical": (
            "Safety planning completed in case {by} tries to strangle her again",
            "{who} vulnerable to criminal exploitation given her circumstances",
            "{who} fears {by} will hit her when he is released",
        ),
        "not_real": (
            "{who} asked a general question about whether a slap is assault",
            "{who} was distressed by a TV programme about child abuse",
        ),
        "accidental": (
            "{who} bruised her arm by accident on the climbing frame",
            "{who} slipped on ice and broke her arm",
        ),
        "idiom": (
            "Staff will touch base again after half term, things kicked off at school",
            "{who} and {by} fell out over money, no further concerns",
        ),
    },
}
TRAP_KINDS = tuple(TRAPS["tuned"])


@dataclass(frozen=True)
class NarrativeKey:
    """What was planted, for measuring the screen: one row per disclosure or trap."""

    rows: pl.DataFrame
    """record_type, record_id, kind (`disclosure` or a trap kind), offence_group, place."""


def _fill(rng: np.random.Generator, template: str, phrasing: str) -> str:
    who = WHO if phrasing == "tuned" else WHO_HELD
    by = BY if phrasing == "tuned" else BY_HELD
    text = template.format(who=str(rng.choice(who)), by=str(rng.choice(by)))
    return text[0].upper() + text[1:]


def _eligible(
    frame: pl.DataFrame,
    id_col: str,
    at_col: str,
    code_col: str,
    closures: tuple[str, ...],
    closure_col: str,
    linked: set[str],
    latest: int,
) -> list[str]:
    """Uncoded records closed without a crime, with no crime linked, older than two days."""
    latest_at = pl.lit(latest).cast(pl.Datetime("us", "UTC"))
    chosen = frame.filter(
        pl.col(code_col).is_null()
        & pl.col(closure_col).is_in(closures)
        & (pl.col(at_col) < latest_at)
        & ~pl.col(id_col).is_in(sorted(linked))
    )
    return sorted(chosen[id_col].to_list())


def add_narratives(
    tables: dict[str, pl.DataFrame], seed: int, as_of_us: int, per_kind: int, phrasing: str = "tuned"
) -> tuple[dict[str, pl.DataFrame], list[tuple[str, str, str]], NarrativeKey]:
    """Words for every referral and incident, the incident log, and the narrative findings' key."""
    if phrasing not in PHRASINGS:
        raise ValueError(phrasing)
    rng = np.random.default_rng([seed, 2])
    links = tables["crime_links"]
    linked_refs = set(links.filter(pl.col("source_type") == "referral")["source_id"].to_list())
    linked_incs = set(links.filter(pl.col("source_type") == "incident")["source_id"].to_list())
    latest = as_of_us - 2 * DAY
    referrals, incidents = tables["referrals"], tables["incidents"]
    pools = {
        "referral": _eligible(
            referrals,
            "referral_id",
            "received_at",
            "disclosed_offence_code",
            ("no_offence_disclosed", "crime_related_incident"),
            "decision",
            linked_refs,
            latest,
        ),
        "incident": _eligible(
            incidents,
            "incident_id",
            "reported_at",
            "reported_offence_code",
            ("non_crime", "crime_related_incident"),
            "closure_class",
            linked_incs,
            latest,
        ),
    }
    for pool in pools.values():
        rng.shuffle(pool)
    planted: list[tuple[str, str, str, str, str, str]] = []  # type, id, kind, group, place, text
    groups = list(DISCLOSURES[phrasing])
    for group in groups:
        templates = DISCLOSURES[phrasing][group]
        for i in range(per_kind):
            record_type = "incident" if i % 2 else "referral"
            if not pools[record_type]:
                record_type = "referral" if record_type == "incident" else "incident"
            if not pools[record_type]:
                break
            record_id = pools[record_type].pop()
            place = "log" if record_type == "incident" and i % 4 == 1 else "summary"
            planted.append(
                (record_type, record_id, "disclosure", group, place, _fill(rng, templates[i % len(templates)], phrasing))
            )
    for kind, templates in TRAPS[phrasing].items():
        for i in range(2 * per_kind):
            record_type = "referral" if i % 2 else "incident"
            if not pools[record_type]:
                break
            record_id = pools[record_type].pop()
            place = "log" if record_type == "incident" and i % 4 == 2 else "summary"
            planted.append((record_type, record_id, kind, "", place, _fill(rng, templates[i % len(templates)], phrasing)))
    plan = pl.DataFrame(
        planted,
        schema={
            "record_type": pl.String,
            "record_id": pl.String,
            "kind": pl.String,
            "offence_group": pl.String,
            "place": pl.String,
            "text": pl.String,
        },
        orient="row",
    )
    tables = dict(tables)
    tables["referrals"] = _summaries(
        referrals, "referral_id", "disclosed_offence_code", plan.filter(pl.col("record_type") == "referral"), rng
    )
    tables["incidents"] = _summaries(
        incidents, "incident_id", "reported_offence_code", plan.filter(pl.col("record_type") == "incident"), rng
    )
    tables["incident_log"] = _incident_log(tables["incidents"], plan.filter(pl.col("place") == "log"), rng, as_of_us)
    key = [("narrative_disclosure", t, i) for t, i, kind, *_ in planted if kind == "disclosure"]
    return tables, key, NarrativeKey(plan.drop("text"))


def _summaries(
    frame: pl.DataFrame, id_col: str, code_col: str, plan: pl.DataFrame, rng: np.random.Generator
) -> pl.DataFrame:
    """Uncoded records get words with no offence; planted summaries replace them."""
    benign = pl.Series(np.asarray(rng.choice(BENIGN, frame.height), dtype=object).tolist(), dtype=pl.String)
    in_summary = plan.filter(pl.col("place") == "summary").select(
        pl.col("record_id").alias(id_col), pl.col("text").alias("_planted")
    )
    return (
        frame.with_columns(pl.when(pl.col(code_col).is_null()).then(benign).otherwise(pl.col("summary")).alias("summary"))
        .join(in_summary, on=id_col, how="left", maintain_order="left")
        .with_columns(pl.coalesce("_planted", "summary").alias("summary"))
        .drop("_planted")
    )


def _incident_log(incidents: pl.DataFrame, planted: pl.DataFrame, rng: np.random.Generator, as_of_us: int) -> pl.DataFrame:
    """Entries for three incidents in ten (one to three each, minutes apart), and for every planted
    log disclosure or trap two plain entries and then the planted one, third."""
    n = incidents.height
    logged = rng.random(n) < 0.3
    counts = np.where(logged, rng.integers(1, 4, n), 0)
    planted_ids = set(planted["record_id"].to_list())
    is_planted = incidents["incident_id"].is_in(sorted(planted_ids)).to_numpy()
    counts = np.where(is_planted, 2, counts)
    ids = np.repeat(incidents["incident_id"].to_numpy(), counts)
    starts = np.repeat(incidents["reported_at"].cast(pl.Int64).to_numpy(), counts)
    step = rng.integers(2, 90, len(ids)) * 60 * US
    first = np.repeat(np.cumsum(counts) - counts, counts)
    order = np.arange(len(ids)) - first
    elapsed = np.cumsum(step)
    offsets = elapsed - (elapsed[first] - step[first]) if len(ids) else step
    entry_at = np.minimum(starts + offsets, as_of_us - 1)
    plain = pl.DataFrame(
        {
            "incident_id": pl.Series(ids.tolist(), dtype=pl.String),
            "entry_at": pl.Series(entry_at - entry_at % US, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "text": pl.Series(np.asarray(rng.choice(LOG_ENTRIES, len(ids)), dtype=object).tolist(), dtype=pl.String),
            "_order": pl.Series(order, dtype=pl.Int64),
        }
    )
    last = plain.group_by("incident_id").agg(pl.col("entry_at").max().alias("_last"))
    third = (
        planted.select(pl.col("record_id").alias("incident_id"), "text")
        .join(last, on="incident_id", how="left")
        .with_columns(
            pl.min_horizontal(
                pl.col("_last") + timedelta(minutes=17), pl.lit(as_of_us - US).cast(pl.Datetime("us", "UTC"))
            ).alias("entry_at"),
            pl.lit(2, pl.Int64).alias("_order"),
        )
        .select("incident_id", "entry_at", "text", "_order")
    )
    return pl.concat([plain, third]).sort("incident_id", "_order").drop("_order")
