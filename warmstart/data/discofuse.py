"""A synthetic sentence-fusion dataset in the spirit of DiscoFuse (Geva et al., 2019).

Each example fuses two sentences into one with a discourse connective, replacing the repeated subject
with a pronoun: "Mary went home early. Mary was tired." -> "Mary went home early because she was
tired." The connective follows from the kinds of the two clauses (an action explained by a state takes
"because", a state that leads to an action takes "so", an effort that failed takes "but", two routine
events become "After ..., ..."), the pronoun from the subject's gender and number, and when the second
sentence has a different subject, the subject is kept instead. Everything is drawn from a seeded
``random.Random``, so the same seed gives the same files on every machine.
"""

from __future__ import annotations

import random

from .splits import GeneratedTask

FEMALE = ["Mary", "Anna", "Lisa", "Emma", "Sarah", "Julia", "Laura", "Kate", "Nina", "Olivia"]
FEMALE += ["Sophie", "Grace", "Alice", "Clara", "Maria", "Helen", "Rachel", "Emily", "Lucy", "Amy"]
MALE = ["John", "Tom", "David", "Peter", "Mark", "James", "Paul", "Daniel", "Sam", "Robert"]
MALE += ["Chris", "Adam", "Steven", "Michael", "Henry", "Jack", "George", "Simon", "Oliver", "Ben"]
GROUPS = ["The children", "My parents", "The students", "Our neighbours", "The players"]
GROUPS += ["The tourists", "The workers", "My friends"]

# Clause kinds; "{be}" agrees with the subject (was/were), "{own}" is the matching possessive.
ACTIONS = ["went home early", "left the party", "cancelled the trip", "stayed in bed"]
ACTIONS += ["called a doctor", "skipped lunch", "took a taxi", "missed the meeting"]
ACTIONS += ["sold {own} car", "turned down the offer", "stayed at the hotel", "took the day off"]
STATES = ["{be} tired", "{be} feeling sick", "{be} late for work", "had a headache"]
STATES += ["{be} out of money", "had an exam the next day", "{be} afraid of the dark"]
STATES += ["{be} bored", "{be} hungry", "{be} cold", "had lost {own} keys", "{be} very busy"]
RESPONSES = ["made a sandwich", "put on a coat", "asked for help", "borrowed some money"]
RESPONSES += ["went to the shop", "opened the window", "ordered a pizza", "looked for a job"]
RESPONSES += ["turned on the lights", "took a long nap", "drank some tea", "phoned {own} mother"]
EFFORTS = ["studied all night", "trained every day", "practised for weeks", "left very early"]
EFFORTS += ["worked very hard", "followed the map", "saved for a year", "checked twice"]
FAILURES = ["failed the exam", "lost the match", "missed the train", "forgot the speech"]
FAILURES += ["got lost", "could not afford the house", "made a mistake", "arrived too late"]
ROUTINES = ["finished work", "had breakfast", "walked the dog", "read the news"]
ROUTINES += ["cleaned the kitchen", "went to the gym", "watched a film", "wrote some emails"]
ROUTINES += ["fed the cat", "took a shower", "did the shopping", "watered the plants"]

# (first clause kind, second clause kind, how to fuse them)
RELATIONS = [
    (ACTIONS, STATES, "{a} because {s2} {b}."),
    (STATES, RESPONSES, "{a}, so {s2} {b}."),
    (EFFORTS, FAILURES, "{a}, but {s2} {b}."),
    (ROUTINES, ROUTINES, "After {a_lower}, {s2} {b}."),
]


def _subject(rng: random.Random) -> tuple[str, str, str, str]:
    """A subject, its pronoun, its possessive and its form of "to be"."""
    kind = rng.random()
    if kind < 0.42:
        return rng.choice(FEMALE), "she", "her", "was"
    if kind < 0.84:
        return rng.choice(MALE), "he", "his", "was"
    return rng.choice(GROUPS), "they", "their", "were"


def _clause(template: str, subject: tuple[str, str, str, str]) -> str:
    _, _, own, be = subject
    return template.format(be=be, own=own)


def _lower_subject(name: str) -> str:
    """A group subject moves inside the sentence ("The children" -> "the children")."""
    return name if name.split()[0] not in {"The", "My", "Our"} else name[0].lower() + name[1:]


def make_example(rng: random.Random) -> dict[str, str]:
    """Draw one example: ``{"source": two sentences, "target": one fused sentence}``.

    Args:
        rng: the random source (the example is a function of its state).

    Returns:
        The example.
    """
    first_kinds, second_kinds, pattern = rng.choice(RELATIONS)
    first, second = rng.choice(first_kinds), rng.choice(second_kinds)
    while second == first:
        second = rng.choice(second_kinds)
    s1 = _subject(rng)
    s2 = s1 if rng.random() < 0.8 else _subject(rng)
    a, b = f"{s1[0]} {_clause(first, s1)}", _clause(second, s2)
    source = f"{a}. {s2[0]} {b}."
    ref = s2[1] if s2[0] == s1[0] else _lower_subject(s2[0])
    target = pattern.format(a=a, a_lower=_lower_subject(s1[0]) + a[len(s1[0]) :], s2=ref, b=b)
    return {"source": source, "target": target}


# Examples per split by default; this module's make_splits and write_splits draw and write them.
TASK = GeneratedTask(make_example, {"train": 6000, "eval": 300, "test": 300})
make_splits = TASK.make_splits
write_splits = TASK.write_splits
