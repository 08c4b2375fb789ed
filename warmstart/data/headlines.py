"""A synthetic news-headline dataset whose lengths spread as real documents do.

Each source is a short news report of one to three events, padded out with details and unrelated
sentences to a length drawn from a right-skewed (log-normal) distribution, as real documents' lengths
are: most sources are 30 to 70 tokens, a few reach 150, none is under 20. The target is one headline
per event, in the report's order, joined by "; ". A headline is recoverable from its event's first
sentence: the short form of the subject, the verb in the present tense, the short form of the
object and the place ("The city council of Riverton approved a new budget for schools on Monday." ->
"Riverton council approves school budget"), so ROUGE against the reference measures whether a model
found the events and rewrote them. Targets are 5 to 30 tokens. Everything is drawn from a seeded
``random.Random``: the same seed gives the same files on every machine.
"""

from __future__ import annotations

import math
import random
import re

from .splits import GeneratedTask

PLACES = ["Riverton", "Oakdale", "Maple Bay", "Stonebridge", "Westfield", "Greenhill", "Lakeside"]
PLACES += ["Ashford", "Brookhaven", "Fairview", "Kingsport", "Millbrook", "Northgate", "Redwood"]
PLACES += ["Silverton", "Springfield", "Clearwater", "Elmwood", "Hillcrest", "Port Ellen"]

# (subject in the report, with "{place}" where the place goes; subject in the headline; plural)
SUBJECTS = [
    ("The city council of {place}", "{place} council", False),
    ("Police in {place}", "{place} police", True),
    ("A team of scientists in {place}", "{place} scientists", True),
    ("The regional bank in {place}", "{place} bank", False),
    ("Workers at the {place} car factory", "{place} car workers", True),
    ("The football club of {place}", "{place} football club", False),
    ("Doctors at the {place} hospital", "{place} doctors", True),
    ("The school board of {place}", "{place} school board", False),
    ("Farmers near {place}", "{place} farmers", True),
    ("The airport of {place}", "{place} airport", False),
    ("Teachers in {place}", "{place} teachers", True),
    ("The mayor of {place}", "{place} mayor", False),
]

# (past tense, present tense, object in the report, object in the headline)
ACTIONS = [
    ("approved", "approves", "a new budget for schools", "school budget"),
    ("rejected", "rejects", "a plan for a shopping centre", "shopping centre plan"),
    ("announced", "announces", "a large cut in costs", "cost cut"),
    ("opened", "opens", "a new office near the station", "new office"),
    ("closed", "closes", "the old bridge over the river", "old bridge"),
    ("launched", "launches", "a search for a missing hiker", "search for missing hiker"),
    ("found", "finds", "a rare kind of bird", "rare bird"),
    ("won", "wins", "the national cup final", "cup final"),
    ("signed", "signs", "a deal with a power company", "power deal"),
    ("delayed", "delays", "the opening of the new museum", "museum opening"),
    ("started", "starts", "a campaign against litter", "litter campaign"),
    ("banned", "bans", "cars from the town centre", "cars from centre"),
    ("raised", "raises", "money for a new playground", "playground money"),
    ("criticised", "criticises", "the plan for higher taxes", "tax plan"),
    ("welcomed", "welcomes", "the decision to build more homes", "housing decision"),
    ("cancelled", "cancels", "the summer music festival", "music festival"),
]

DAYS = ["on Monday", "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "on Saturday"]
DAYS += ["on Sunday", "last week", "this morning", "yesterday", "late on Friday night"]

# Sentences that say more about the event just reported ("{sub}" is its headline subject).
DETAILS = [
    "The decision came after {n} weeks of talks.",
    "A spokesperson said the move had been expected for some time.",
    "Local residents gathered outside to hear the news.",
    "The {sub} said more details would follow in the coming days.",
    "Critics said the step came far too late.",
    "About {n} hundred people are expected to be affected.",
    "It is the first such step in more than {n} years.",
    "Officials declined to say how much it would cost.",
    "The news was shared widely on social media within hours.",
    "Several groups have asked for a public meeting about it.",
    "A report on the matter will be published next month.",
    "The {sub} thanked everyone who had helped.",
]

# Sentences about nothing in particular, between events.
FILLER = [
    "The weather stayed dry and mild for most of the week.",
    "Traffic on the main road was heavier than usual.",
    "In other news, the library will open later on Sundays.",
    "A market will be held in the square as it is every month.",
    "Bus services are running to the normal timetable.",
    "The local newspaper celebrated its {n}th anniversary.",
    "Schools in the area return from their break next week.",
    "Volunteers cleaned the beach on Saturday morning.",
]

MIN_SOURCE, MAX_SOURCE = 20, 150  # tokens of a source (words and punctuation marks)
MEDIAN_SOURCE, SPREAD = 48, 0.55  # the log-normal's median and sigma
_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """Words and punctuation marks: about what a WordPiece tokenizer gives on this vocabulary."""
    return len(_TOKEN.findall(text))


def _event(rng: random.Random) -> tuple[str, str, str]:
    """One event: (its sentence in the report, its headline, its headline subject)."""
    place = rng.choice(PLACES)
    subject, short, plural = rng.choice(SUBJECTS)
    past, present, obj, obj_short = rng.choice(ACTIONS)
    if plural:  # "police approve", "bank approves"
        present = present[:-2] if present.endswith(("ches", "shes")) else present[:-1]
    sentence = f"{subject.format(place=place)} {past} {obj} {rng.choice(DAYS)}."
    short = short.format(place=place)
    return sentence, f"{short} {present} {obj_short}", short.split(" ", len(place.split()))[-1]


def _sentence(rng: random.Random, pool: list[str], sub: str = "") -> str:
    return rng.choice(pool).format(n=rng.randint(2, 9), sub=sub)


def make_example(rng: random.Random) -> dict[str, str]:
    """Draw one example: ``{"source": a report, "target": its headlines joined by "; "}``.

    Args:
        rng: the random source (the example is a function of its state).

    Returns:
        The example.
    """
    budget = math.exp(rng.gauss(math.log(MEDIAN_SOURCE), SPREAD))
    budget = min(MAX_SOURCE, max(MIN_SOURCE, round(budget)))
    n_events = 1 if budget < 45 else rng.choice([1, 2, 2, 3] if budget < 90 else [2, 3, 3])
    events = [_event(rng) for _ in range(n_events)]
    # Each event opens a paragraph; details about it and filler lengthen the report until it
    # reaches the budget, never past MAX_SOURCE.
    paragraphs = [[sentence] for sentence, _, _ in events]
    used = sum(count_tokens(s) for s, _, _ in events)
    while used < budget:
        index = rng.randrange(n_events)
        extra = (
            _sentence(rng, DETAILS, events[index][2])
            if rng.random() < 0.7
            else _sentence(rng, FILLER)
        )
        if used + count_tokens(extra) > MAX_SOURCE:
            break
        paragraphs[index].append(extra)
        used += count_tokens(extra)
    source = " ".join(" ".join(p) for p in paragraphs)
    target = "; ".join(headline for _, headline, _ in events)
    return {"source": source, "target": target[0].upper() + target[1:]}


# Examples per split by default; this module's make_splits and write_splits draw and write them.
TASK = GeneratedTask(make_example, {"train": 4800, "eval": 200, "test": 400})
make_splits = TASK.make_splits
write_splits = TASK.write_splits
