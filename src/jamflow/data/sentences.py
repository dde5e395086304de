"""English sentences for the procedural corpus: our own templates and word lists (no third-party text).

`generate_sentences(n, seed)` expands ~40 sentence templates (statements, questions, requests, two-clause
sentences) over everyday vocabulary that pocketsphinx's English dictionary knows. The shipped list
`assets/sentences_en.txt` is `generate_sentences(3000, seed=1234)`; `load_sentences(path)` reads it or a
user file (one sentence per line, blank lines and lines starting with '#' skipped).

Held-out convention: `is_heldout_sentence(text, fraction)` hashes the normalised sentence, so the same
sentence is test (or train) in every corpus, whatever the seed or voice.
"""
from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

from jamflow.errors import UserError

SHIPPED = Path(__file__).resolve().parent.parent / "assets" / "sentences_en.txt"
SHIPPED_SEED = 1234  # the shipped list is generate_sentences(3000, SHIPPED_SEED)

W = {
    "name": "Anna Ben Clara David Emma Frank Grace Henry Julia Kevin Laura Martin Nora Oliver Paul Rachel Sam "
            "Thomas Victor Helen Peter Mary John Lucy George Alice Daniel Sarah Michael Linda".split(),
    "person": ("my brother|my sister|the doctor|the teacher|our neighbor|the old farmer|a young student|the driver|"
               "the baker|my friend|the little girl|the tall man|her mother|his father|the nurse|the captain|"
               "the new manager|a quiet woman|the young boy|the postman|my uncle|our guest").split("|"),
    "thing": ("the red box|a cup of tea|the old map|a warm coat|the heavy bag|a fresh loaf of bread|the small key|"
              "a glass of water|the morning paper|a basket of apples|the blue chair|a long letter|the kitchen knife|"
              "a bunch of flowers|the silver coin|a pair of shoes|the wooden table|a bowl of soup|the garden hose|"
              "a box of books|the yellow ball|a piece of cake|the broken clock|a bottle of milk").split("|"),
    "place": ("the market|the station|the river|the library|the park|the school|the beach|the hospital|the office|"
              "the village|the old bridge|the garden|the kitchen|the city|the hotel|the museum|the church|"
              "the bakery|the farm|the harbor|the mountain|the forest|the corner shop|the train platform").split("|"),
    "time": ("this morning|last night|on Monday|after lunch|before dinner|at noon|yesterday|in the evening|"
             "every Sunday|early today|late in the afternoon|next week|at seven o'clock|during the storm|"
             "in the spring|on the weekend").split("|"),
    "past": "found|carried|opened|dropped|painted|cleaned|moved|brought|sold|bought|fixed|lost|washed|kept|took|"
            "left|saw|needed|wanted|liked".split("|"),
    "base": "find|carry|open|drop|paint|clean|move|bring|sell|buy|fix|lose|wash|keep|take|leave|see|need|want|like".split("|"),
    "carry_base": "bring|take|carry|move|send|return".split("|"),
    "shop_past": "bought|found|saw|sold|counted|needed|collected".split("|"),
    "shop_base": "buy|find|see|sell|count|need|collect".split("|"),
    "walk_past": "walked|drove|ran|went|hurried|rode|came back|moved|traveled|wandered".split("|"),
    "walk_base": "walk|drive|run|go|hurry|ride|come back|move|travel|wander".split("|"),
    "adj": "cold|warm|quiet|busy|dark|bright|empty|crowded|clean|wet|dry|calm|noisy|lovely|strange|"
           "beautiful|small|large|old|new".split("|"),
    "feeling": "happy|tired|hungry|worried|surprised|proud|sorry|glad|nervous|angry|calm|sleepy".split("|"),
    "weather": ("the rain stopped|the sun came out|the wind was strong|the snow kept falling|the sky turned gray|"
                "the air felt cold|the clouds moved away|the storm was over").split("|"),
    "number": "two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|a hundred".split("|"),
    "plural": "apples|books|chairs|letters|boxes|cups|flowers|coins|shoes|bottles|tickets|pictures|stones|"
              "candles|blankets|plates".split("|"),
    "animal": "the dog|the cat|a bird|the horse|a small fox|the cow|the old goat|a white rabbit|the sheep|a black duck".split("|"),
    "animal_act": "slept by the fire|ran across the field|jumped over the fence|ate all the food|barked at the door|"
                  "sat in the sun|hid under the bed|swam in the pond|looked at the moon|waited near the gate".split("|"),
}

TEMPLATES = [
    "{Name} {past} {thing} {time}.",
    "{Person} {past} {thing} at {place}.",
    "{Name} {walk_past} to {place} {time}.",
    "{Person} {walk_past} to {place} with {name}.",
    "{Time}, {person} {past} {thing}.",
    "Did {person} {base} {thing} at {place}?",
    "Did {name} {walk_base} to {place} {time}?",
    "Will you {base} {thing} for me?",
    "Please {base} {thing} before you leave.",
    "Could you {carry_base} {thing} to {place}?",
    "Where did {person} {base} {thing}?",
    "Why did {name} {walk_base} to {place}?",
    "When will {person} {walk_base} to {place}?",
    "{Place_cap} was {adj} {time}.",
    "The room at {place} was {adj} and {adj2}.",
    "{Name} felt {feeling} when {weather}.",
    "{Weather_cap}, so we {walk_past} to {place}.",
    "{Weather_cap} {time}.",
    "{Person_cap} was {feeling} because {name} {past} {thing}.",
    "We {shop_past} {number} {plural} at {place}.",
    "There were {number} {plural} on the table.",
    "I think {name} {past} {thing}.",
    "I hope {person} will {base} {thing} {time}.",
    "{Animal_cap} {animal_act}.",
    "{Animal_cap} {animal_act} {time}.",
    "Nobody knows why {animal} {animal_act}.",
    "After {name} {walk_past} home, {person} {past} {thing}.",
    "If it rains, {name} will {walk_base} to {place}.",
    "{Name} and {name2} {walk_past} to {place} together.",
    "{Name} told {person} to {base} {thing}.",
    "It was {adj} at {place}, but {name} did not mind.",
    "You should {base} {thing} {time}.",
    "Let us {walk_base} to {place} {time}.",
    "How many {plural} did {name} {shop_base}?",
    "{Person_cap} never {past} {thing} again.",
    "We were {feeling} to see {name} at {place}.",
    "The {plural} at {place} were {adj}.",
    "{Name} asked if {person} {past} {thing}.",
    "Is {place} far from here?",
    "My friend {name} works at {place}.",
]

_SLOT = re.compile(r"\{(\w+?)\}")


def _fill(template: str, rng: random.Random) -> str:
    used: dict[str, str] = {}

    def pick(match: re.Match) -> str:
        key = match.group(1)
        base = key.lower().removesuffix("_cap").rstrip("0123456789")
        word = rng.choice(W[base])
        while word in used.values() and len(W[base]) > 2:  # "Anna and Anna", "cold and cold"
            word = rng.choice(W[base])
        used[key] = word
        if key[0].isupper() or key.endswith("_cap"):
            word = word[0].upper() + word[1:]
        return word

    return _SLOT.sub(pick, template)


def generate_sentences(n: int, seed: int = 1234) -> list[str]:
    """n distinct sentences, deterministic for a seed."""
    rng = random.Random(seed)
    out, seen = [], set()
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 50 * n + 1000:
            raise UserError(f"sentences: expected to generate {n} distinct sentences, got only {len(out)}")
        s = _fill(rng.choice(TEMPLATES), rng)
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def load_sentences(path=None) -> list[str]:
    """Sentences from a text file (one per line); None -> the shipped list."""
    path = Path(path) if path is not None else SHIPPED
    if not path.is_file():
        if path == SHIPPED:  # a source checkout without the generated asset still works
            return generate_sentences(3000, seed=SHIPPED_SEED)
        raise UserError(f"sentences: expected a text file with one sentence per line, got missing {str(path)!r}")
    lines = [" ".join(line.split()) for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    wordless = [line for line in lines if not re.search(r"[^\W\d_]", line)]
    if wordless:
        raise UserError(f"sentences: expected words on every line of {str(path)!r}, got {wordless[0]!r}")
    if not lines:
        raise UserError(f"sentences: expected at least one sentence in {str(path)!r}, got none")
    return lines


def normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).strip()


def in_hashed_fraction(key: str, fraction: float) -> bool:
    """True for a deterministic `fraction` of keys: the first 8 bytes of sha1(key) read as a number in [0, 1)."""
    h = int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big")
    return (h / 2 ** 64) < fraction


def is_heldout_sentence(text: str, fraction: float) -> bool:
    """True for a deterministic `fraction` of sentences, decided by a hash of the normalised text."""
    return in_hashed_fraction(" ".join(normalise(text).split()), fraction)


def heldout_sentences(pool: int = 12000, fraction: float = 0.05) -> list[str]:
    """The held-out ones among the first `pool` generated sentences, in order: text no corpus trains on."""
    return [s for s in generate_sentences(pool) if is_heldout_sentence(s, fraction)]
