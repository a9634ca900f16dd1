#!/usr/bin/env python3
"""Generates tests/corpus/redaction-{fr_FR,de_DE,en_GB}.jsonl: labelled rows for the locale
packs (fr_nir, de_steuer_id, uk_nino) and the locale's phones, IBANs and emails, plus
negatives (numbers of the same shapes with invalid check digits, dates, amounts, ids).
Deterministic (fixed seed): rerun to regenerate the files byte for byte."""
import json
import random
import string

rnd = random.Random(20240612)


def iban(country, bban):
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def group4(s):
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4))


def nir(valid=True):
    sex = rnd.choice("12")
    yy, mm = rnd.randint(0, 99), rnd.randint(1, 12)
    dept = rnd.choice([f"{rnd.randint(1, 95):02d}"] * 9 + ["2A", "2B"])
    commune, order = rnd.randint(1, 990), rnd.randint(1, 999)
    body = f"{sex}{yy:02d}{mm:02d}{dept}{commune:03d}{order:03d}"
    num = int(body.replace("2A", "19").replace("2B", "18"))
    key = 97 - num % 97
    if not valid:
        key = (key + rnd.randint(1, 96)) % 97 + 1
        if key == 97 - num % 97:
            key = key % 97 + 1
    s = body + f"{key:02d}"
    if rnd.random() < 0.5:
        return s
    return f"{s[0]} {s[1:3]} {s[3:5]} {s[5:7]} {s[7:10]} {s[10:13]} {s[13:]}"


def steuer_ok(d):
    if len(d) != 11 or d[0] == "0":
        return False
    counts = [d[:10].count(str(i)) for i in range(10)]
    rep = [i for i in range(10) if counts[i] > 1]
    if len(rep) != 1 or counts[rep[0]] > 3:
        return False
    if counts[rep[0]] == 3 and str(rep[0]) * 3 in d[:10]:
        return False
    product = 10
    for c in d[:10]:
        s = (int(c) + product) % 10 or 10
        product = s * 2 % 11
    check = 11 - product
    return (0 if check == 10 else check) == int(d[10])


def steuer(valid=True):
    while True:
        first = rnd.sample("0123456789", 9)
        if first[0] == "0":
            continue
        ten = first + [rnd.choice(first)]
        head = [ten[0]] + rnd.sample(ten[1:], 9)
        for c in "0123456789":
            d = "".join(head) + c
            if steuer_ok(d) == valid and (valid or any(steuer_ok("".join(head) + x) for x in "0123456789")):
                return d if rnd.random() < 0.5 else f"{d[:2]} {d[2:5]} {d[5:8]} {d[8:]}"


def nino(prefix=None):
    first = "ABCEGHJKLMNOPRSTWXYZ"
    second = "ABCEGHJKLMNPRSTWXYZ"
    while prefix is None:
        p = rnd.choice(first) + rnd.choice(second)
        if p not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
            prefix = p
    d = "".join(rnd.choice(string.digits) for _ in range(6))
    suffix = rnd.choice("ABCD")
    if rnd.random() < 0.5:
        return f"{prefix}{d}{suffix}"
    return f"{prefix} {d[:2]} {d[2:4]} {d[4:]} {suffix}"


def email(names):
    a, b = rnd.choice(names), rnd.choice(names)
    return f"{a}.{b}{rnd.randint(1, 99)}@{rnd.choice(['example.fr', 'example.de', 'example.co.uk', 'example.org'])}".lower()


NAMES = ["camille", "leon", "chloe", "hugo", "lena", "jonas", "mia", "oliver", "amelia", "harry", "ines", "lukas"]


def pos(rows, cat, secret, templates):
    rows.append({"text": rnd.choice(templates).format(secret), "category": cat, "secret": secret})


def neg(rows, text):
    rows.append({"text": text, "category": None, "secret": None})


def fr():
    rows = []
    t_nir = ["Numéro de sécurité sociale : {}", "NIR {}", "n° SS {} (carte Vitale)", "{}",
             "Le patient, NIR {}, a été admis.", "payload={{\"nir\": \"{}\"}}"]
    for _ in range(120):
        pos(rows, "fr_nir", nir(), t_nir)
    for _ in range(40):
        p = f"0{rnd.randint(1, 7)} {rnd.randint(10, 99)} {rnd.randint(10, 99)} {rnd.randint(10, 99)} {rnd.randint(10, 99)}"
        if rnd.random() < 0.4:
            p = "+33 " + p[1:]
        pos(rows, "phone", p, ["Tél. : {}", "appelez le {} avant midi", "Contact {}"])
    for _ in range(40):
        b = "".join(rnd.choice(string.digits) for _ in range(23))
        v = iban("FR", b)
        pos(rows, "iban", group4(v) if rnd.random() < 0.5 else v, ["IBAN : {}", "virement sur {}", "{}"])
    for _ in range(40):
        pos(rows, "email", email(NAMES), ["Courriel : {}", "écrire à {} svp", "{}"])
    for _ in range(60):
        neg(rows, rnd.choice(["Clé NIR invalide rejetée : {}", "{} (clé erronée)"]).format(nir(False)))
    for _ in range(240):
        k = rnd.randrange(8)
        if k == 0:
            neg(rows, f"Facture n° {rnd.randint(100000, 999999)} du {rnd.randint(1, 28):02d}/{rnd.randint(1, 12):02d}/2024")
        elif k == 1:
            neg(rows, f"Montant : {rnd.randint(1, 999)} {rnd.randint(100, 999)},{rnd.randint(0, 99):02d} €")
        elif k == 2:
            neg(rows, f"Commande {rnd.randint(10**8, 10**9)} expédiée à {rnd.randint(10000, 95999)} Lyon")
        elif k == 3:
            neg(rows, f"Rendez-vous le {rnd.randint(1, 28)}/{rnd.randint(1, 12)} à {rnd.randint(8, 18)}h{rnd.choice(['00', '30'])}")
        elif k == 4:
            neg(rows, f"SIREN {rnd.randint(10**8, 10**9 - 1)}, code APE {rnd.randint(1000, 9999)}{rnd.choice('ABCZ')}")
        elif k == 5:
            neg(rows, f"Le dossier {rnd.randint(1, 9)}-{rnd.randint(1000, 9999)} est en cours de traitement.")
        elif k == 6:
            neg(rows, f"horodatage {rnd.randint(1_600_000_000_000, 1_800_000_000_000)}")
        else:
            neg(rows, f"Version {rnd.randint(1, 9)}.{rnd.randint(0, 30)}.{rnd.randint(0, 99)} déployée sur {rnd.randint(2, 64)} serveurs")
    return rows


def de():
    rows = []
    t = ["Steuer-ID: {}", "Steuerliche Identifikationsnummer {}", "IdNr. {}", "{}",
         "Die Steuer-Identifikationsnummer {} wurde gespeichert.", "payload={{\"steuer_id\": \"{}\"}}"]
    for _ in range(120):
        pos(rows, "de_steuer_id", steuer(), t)
    for _ in range(40):
        p = rnd.choice([f"030 {rnd.randint(1000000, 99999999)}", f"+49 30 {rnd.randint(1000000, 9999999)}",
                        f"0{rnd.randint(151, 179)} {rnd.randint(1000000, 99999999)}", f"089/{rnd.randint(1000000, 9999999)}"])
        pos(rows, "phone", p, ["Tel.: {}", "Rückruf unter {}", "Mobil {}"])
    for _ in range(40):
        v = iban("DE", "".join(rnd.choice(string.digits) for _ in range(18)))
        pos(rows, "iban", group4(v) if rnd.random() < 0.5 else v, ["IBAN: {}", "Überweisung an {}", "{}"])
    for _ in range(40):
        pos(rows, "email", email(NAMES), ["E-Mail: {}", "bitte an {} schreiben", "{}"])
    for _ in range(60):
        neg(rows, rnd.choice(["Prüfziffer falsch: {}", "{} (ungültig)"]).format(steuer(False)))
    for _ in range(240):
        k = rnd.randrange(8)
        if k == 0:
            neg(rows, f"Rechnung Nr. {rnd.randint(10**6, 10**7)} vom {rnd.randint(1, 28):02d}.{rnd.randint(1, 12):02d}.2024")
        elif k == 1:
            neg(rows, f"Betrag: {rnd.randint(1, 999)}.{rnd.randint(100, 999)},{rnd.randint(0, 99):02d} EUR")
        elif k == 2:
            neg(rows, f"Lieferung an {rnd.randint(10000, 99999)} Berlin, Auftrag {rnd.randint(10**8, 10**9)}")
        elif k == 3:
            neg(rows, f"Termin am {rnd.randint(1, 28):02d}.{rnd.randint(1, 12):02d}.2024 um {rnd.randint(8, 18)}:{rnd.choice(['00', '30'])} Uhr")
        elif k == 4:
            neg(rows, f"Kundennummer {rnd.randint(10**5, 10**6)}, Vorgang {rnd.randint(1000, 9999)}")
        elif k == 5:
            neg(rows, f"Zeitstempel {rnd.randint(1_600_000_000_000, 1_800_000_000_000)}")
        elif k == 6:
            neg(rows, f"Die Sitzung dauerte {rnd.randint(2, 90)} Minuten und hatte {rnd.randint(2, 40)} Teilnehmer.")
        else:
            neg(rows, f"Artikel {rnd.randint(10**9, 10**10 - 1)} ist nicht auf Lager")
    return rows


def gb():
    rows = []
    t = ["NI number: {}", "National Insurance number {}", "NINO {}", "{}",
         "The employee's NI no. is {}.", "payload={{\"nino\": \"{}\"}}"]
    for _ in range(100):
        pos(rows, "uk_nino", nino(), t)
    for _ in range(20):
        # Administrative and placeholder prefixes, written where a NINO belongs.
        pos(rows, "uk_nino", nino(rnd.choice(["ZZ", "TN", "NT", "BG"])), t[:3] + t[4:])
    for _ in range(40):
        p = rnd.choice([f"+44 20 7946 {rnd.randint(1000, 9999)}", f"07700 900{rnd.randint(100, 999)}",
                        f"01632 960{rnd.randint(100, 999)}", f"(0161) 496 {rnd.randint(1000, 9999)}"])
        pos(rows, "phone", p, ["Tel: {}", "call me on {}", "Mobile {}"])
    for _ in range(40):
        bank = "".join(rnd.choice(string.ascii_uppercase) for _ in range(4))
        v = iban("GB", bank + "".join(rnd.choice(string.digits) for _ in range(14)))
        pos(rows, "iban", group4(v) if rnd.random() < 0.5 else v, ["IBAN: {}", "pay into {}", "{}"])
    for _ in range(40):
        pos(rows, "email", email(NAMES), ["Email: {}", "write to {} please", "{}"])
    for _ in range(60):
        # Bare numbers of the NINO shape that fail the allocation rules, no context word.
        bad = nino(rnd.choice(["ZZ", "TN", "QQ", "DA", "FO"]))
        neg(rows, rnd.choice(["code {}", "reference {} on the parcel", "{}"]).format(bad))
    for _ in range(240):
        k = rnd.randrange(8)
        if k == 0:
            neg(rows, f"Invoice {rnd.randint(10**5, 10**6)} dated {rnd.randint(1, 28):02d}/{rnd.randint(1, 12):02d}/2024")
        elif k == 1:
            neg(rows, f"Total: £{rnd.randint(1, 9)},{rnd.randint(100, 999)}.{rnd.randint(0, 99):02d}")
        elif k == 2:
            neg(rows, f"Deliver to {rnd.choice(['SW1A 1AA', 'M1 1AE', 'EC1A 1BB', 'B33 8TH', 'CR2 6XH'])}, order {rnd.randint(10**7, 10**8)}")
        elif k == 3:
            neg(rows, f"Meeting at {rnd.randint(8, 18)}:{rnd.choice(['00', '30'])} on {rnd.randint(1, 28)} March")
        elif k == 4:
            neg(rows, f"Sort code {rnd.randint(10, 99)}-{rnd.randint(10, 99)}-{rnd.randint(10, 99)} is on file")
        elif k == 5:
            neg(rows, f"Company number {rnd.randint(10**7, 10**8 - 1):08d} filed accounts")
        elif k == 6:
            neg(rows, f"Vehicle {rnd.choice(string.ascii_uppercase)}{rnd.choice(string.ascii_uppercase)}{rnd.randint(10, 99)} {''.join(rnd.choice(string.ascii_uppercase) for _ in range(3))} was booked in")
        else:
            neg(rows, f"Build {rnd.randint(100, 9999)} passed {rnd.randint(10, 900)} tests in {rnd.randint(2, 60)} seconds")
    return rows


for name, gen in [("fr_FR", fr), ("de_DE", de), ("en_GB", gb)]:
    with open(f"tests/corpus/redaction-{name}.jsonl", "w", encoding="utf-8") as f:
        for row in gen():
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
