"""Build src/caremodels/reference/data/trusts.csv: the ODS code and name of every NHS trust.

Source: NHS Digital's Organisation Data Service file ``etr.csv`` ("NHS Trusts", the ODS "ETR"
extract; Open Government Licence v3.0): columns 1-2 are the code and the name (upper case),
column 11 the open date and column 12 the close date (YYYYMMDD). The copy used for the shipped
file was read from the public repository jah-photoshop/nhsparse (file etr.csv, commit 12ebc71),
an unchanged ODS download of late 2020; see reference/data/SOURCES.md.
Run from the repository root:  .venv/bin/python scripts/build_trust_names.py PATH/TO/etr.csv
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "caremodels" / "reference" / "data" / "trusts.csv"
# Words kept in capitals, and short words kept lower case, when the ODS upper-case name is re-cased.
_UPPER = {"NHS", "UK"}
_LOWER = {"and", "of", "the", "for", "on", "upon", "in"}


def readable(name: str) -> str:
    """'BARKING, HAVERING AND REDBRIDGE UNIVERSITY HOSPITALS NHS TRUST' -> 'Barking, Havering and ...'."""
    words = []
    for index, word in enumerate(name.split()):
        bare = re.sub(r"[^A-Za-z']", "", word)
        if bare.upper() in _UPPER:
            words.append(word.upper())
        elif index > 0 and bare.lower() in _LOWER:
            words.append(word.lower())
        else:
            # Title case each part of hyphenated or apostrophe words: KING'S -> King's, ON-TRENT -> On-Trent.
            words.append(re.sub(r"[A-Za-z]+('[A-Za-z]+)?", lambda m: m.group(0).capitalize(), word.lower()))
    return " ".join(words)


def date(text: str) -> str:
    text = text.strip()
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("etr", type=Path)
    arguments = parser.parse_args()
    rows = []
    with arguments.etr.open(newline="", encoding="utf-8") as handle:
        for record in csv.reader(handle):
            rows.append((record[0], readable(record[1]), date(record[10]), date(record[11])))
    rows.sort()
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["org_code", "name", "opened", "closed"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} trusts to {OUT}")


if __name__ == "__main__":
    main()
