#!/usr/bin/env python3
"""Anchor benchmark: Django's transaction.on_commit, measured the same way as
the Rust benches in runtime/benches/ so the two can be printed side by side.

Usage: python3 django_on_commit_bench.py [--db sqlite|postgres] [--n N]
Postgres: uses PGHOST/PGUSER/PGDATABASE (default 127.0.0.1 / root / test).
Prints one line per scenario: name, total seconds, ns per operation.
"""
import argparse, os, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
ap.add_argument("--n", type=int, default=100_000)
ap.add_argument("--txns", type=int, default=5_000)
args = ap.parse_args()

import django
from django.conf import settings

if args.db == "sqlite":
    db = {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(tempfile.gettempdir(), "anchor_bench.sqlite3")}
else:
    db = {"ENGINE": "django.db.backends.postgresql",
          "NAME": os.environ.get("PGDATABASE", "test"),
          "USER": os.environ.get("PGUSER", "root"),
          "PASSWORD": os.environ.get("PGPASSWORD", ""),
          "HOST": os.environ.get("PGHOST", "127.0.0.1")}
settings.configure(DATABASES={"default": db}, INSTALLED_APPS=[], USE_TZ=True)
django.setup()
from django.db import connection, transaction

with connection.cursor() as c:
    c.execute("DROP TABLE IF EXISTS anchor_users")
    c.execute("CREATE TABLE anchor_users (id integer PRIMARY KEY, email text NOT NULL)")

ran = []
def hook(i):
    ran.append(i)

def report(name, secs, ops):
    print(f"{name:<34} {secs:9.4f} s  {secs / ops * 1e9:12.1f} ns/op  ({ops} ops)")

# 1. register N hooks in one transaction, then commit and run them all
ran.clear()
t = time.perf_counter()
with transaction.atomic():
    for i in range(args.n):
        transaction.on_commit(lambda i=i: hook(i))
report("register+run hooks, 1 txn", time.perf_counter() - t, args.n)
assert len(ran) == args.n

# 2. register N hooks inside a savepoint each (nested atomic), outer commit
ran.clear()
n2 = args.n // 10
t = time.perf_counter()
with transaction.atomic():
    for i in range(n2):
        with transaction.atomic():
            transaction.on_commit(lambda i=i: hook(i))
report("hook in savepoint, 1 outer txn", time.perf_counter() - t, n2)
assert len(ran) == n2

# 3. many transactions: insert a row + 1 hook, vs insert alone
def txns(with_hook):
    with connection.cursor() as c:
        c.execute("DELETE FROM anchor_users")
    ran.clear()
    t = time.perf_counter()
    for i in range(args.txns):
        with transaction.atomic():
            with connection.cursor() as c:
                c.execute("INSERT INTO anchor_users (id, email) VALUES (%s, %s)", [i, f"u{i}@example.com"])
            if with_hook:
                transaction.on_commit(lambda i=i: hook(i))
    return time.perf_counter() - t

plain = txns(False)
hooked = txns(True)
report("txn insert, no hook", plain, args.txns)
report("txn insert + 1 on_commit hook", hooked, args.txns)
print(f"hook overhead ratio (hooked/plain): {hooked / plain:.3f}")
