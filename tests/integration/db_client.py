# SPDX-License-Identifier: MIT
"""What the database clients of the tests (pg_client.py, my_client.py)
share: any DB-API 2.0 connection.

main(modes): MODE PORT [ARGS] from the command line, the mode's function
called as fn(port, *args), its JSON object printed with "seconds".
"""
import json
import sys
import time

# a migration of five schema changes, in order
MIGRATION = [
    "CREATE TABLE mig_a (id int PRIMARY KEY)",
    "ALTER TABLE mig_a ADD COLUMN b varchar(20)",
    "CREATE INDEX mig_a_b ON mig_a (b)",
    "CREATE TABLE mig_c (id int)",
    "ALTER TABLE mig_c ADD COLUMN d int",
]


def deadlock(c, n, errors, classify, begin=None):
    """n transactions on c (begin(); UPDATE one of 10 accounts; COMMIT),
    each retried while classify(e) of the error says (retryable,
    a deadlock, its text): how many first attempts met a deadlock,
    retries, other errors, the accounts' total afterwards (each
    transaction adds 1 exactly once)."""
    first, retries, other, done = 0, 0, [], 0
    for i in range(n):
        attempt = 0
        while True:
            try:
                if begin:
                    begin()
                with c.cursor() as cur:
                    cur.execute("UPDATE accounts SET balance = balance + 1 WHERE id = %s",
                                (i % 10 + 1,))
                c.commit()
                done += 1
                break
            except errors as e:
                c.rollback()
                retry, was_deadlock, text = classify(e)
                if not retry:
                    other.append(text)
                    break
                if attempt == 0 and was_deadlock:
                    first += 1
                retries += 1
                attempt += 1
                if attempt > 50:
                    other.append("gave up after 50 tries")
                    break
    with c.cursor() as cur:
        cur.execute("SELECT sum(balance) FROM accounts")
        total = cur.fetchone()[0]
    c.commit()
    return {"transactions": n, "deadlock_first": first, "retries": retries,
            "completed": done, "other_errors": other[:5], "total": int(total)}


def migrate(c, error, describe):
    """Run MIGRATION on c (autocommit), stopping at the first `error`
    exception: how many applied, and describe(e) of the failure."""
    applied = 0
    with c.cursor() as cur:
        for s in MIGRATION:
            try:
                cur.execute(s)
                applied += 1
            except error as e:
                out = {"applied": applied, "failed_at": applied + 1}
                out.update(describe(e))
                return out
    return {"applied": applied, "failed_at": None}


def timing(c, n, sql):
    """sql n times on c: each one's milliseconds."""
    ms = []
    with c.cursor() as cur:
        for _ in range(n):
            t = time.monotonic()
            cur.execute(sql)
            cur.fetchall()
            ms.append(round((time.monotonic() - t) * 1000, 2))
    return {"ms": ms}


def connect(open_conn, error, describe):
    """One connection (open_conn()) and SELECT 1: "ok", or the `error`
    exception's describe(e)."""
    try:
        c = open_conn()
        with c.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        c.close()
        return {"result": "ok"}
    except error as e:
        out = {"result": "error"}
        out.update(describe(e))
        return out


def main(modes):
    if len(sys.argv) < 3 or sys.argv[1] not in modes:
        sys.exit("usage: MODE PORT [ARGS]; modes: " + " ".join(modes))
    t = time.monotonic()
    out = modes[sys.argv[1]](int(sys.argv[2]), *sys.argv[3:])
    out["seconds"] = round(time.monotonic() - t, 3)
    print(json.dumps(out))
