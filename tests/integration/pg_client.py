#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The application side of test_fault_postgres.sh: a psycopg2 client.

pg_client.py MODE PORT [ARGS] prints one JSON object:
  deadlock PORT N   N transactions (BEGIN; UPDATE; COMMIT), each retried on
                    40P01/40001 until it commits: how many first attempts
                    saw 40P01, retries, other errors, and the table's total
                    afterwards (each transaction adds 1 exactly once)
  rows PORT         SELECT * FROM items ORDER BY id, as psycopg2 parses it
  migrate PORT      five schema changes in order, stopping at the first error
  connect PORT      one connection and SELECT 1: "ok" or the error
  time PORT N SQL   N times SQL on one connection: each one's milliseconds

The server is on 127.0.0.1, or at the address in $PG_CLIENT_HOST (a
target's address, as test_db_manifests.sh gives it).
"""
import json
import os
import sys
import time

import psycopg2
import psycopg2.errors


def conn(port):
    c = psycopg2.connect(host=os.environ.get("PG_CLIENT_HOST", "127.0.0.1"), port=port, user="postgres", dbname="postgres",
                         connect_timeout=5)
    return c


def deadlock(port, n):
    c = conn(port)
    first, retries, other, done = 0, 0, [], 0
    for i in range(n):
        attempt = 0
        while True:
            try:
                with c.cursor() as cur:
                    cur.execute("UPDATE accounts SET balance = balance + 1 WHERE id = %s",
                                (i % 10 + 1,))
                c.commit()
                done += 1
                break
            except (psycopg2.errors.DeadlockDetected,
                    psycopg2.errors.SerializationFailure) as e:
                c.rollback()
                if attempt == 0 and e.pgcode == "40P01":
                    first += 1
                retries += 1
                attempt += 1
                if attempt > 50:
                    other.append("gave up after 50 tries")
                    break
            except psycopg2.Error as e:
                c.rollback()
                other.append("%s %s" % (e.pgcode, str(e).strip()[:100]))
                break
    with c.cursor() as cur:
        cur.execute("SELECT sum(balance) FROM accounts")
        total = cur.fetchone()[0]
    c.commit()
    return {"transactions": n, "deadlock_first": first, "retries": retries,
            "completed": done, "other_errors": other[:5], "total": int(total)}


def rows(port):
    c = conn(port)
    c.autocommit = True
    with c.cursor() as cur:
        cur.execute("SELECT id, name, qty, price, active FROM items ORDER BY id")
        got = [[r[0], r[1], r[2], str(r[3]), r[4]] for r in cur.fetchall()]
        types = [d.type_code for d in cur.description]
    return {"rows": got, "types": types}


def migrate(port):
    steps = [
        "CREATE TABLE mig_a (id int PRIMARY KEY)",
        "ALTER TABLE mig_a ADD COLUMN b text",
        "CREATE INDEX mig_a_b ON mig_a (b)",
        "CREATE TABLE mig_c (id int)",
        "ALTER TABLE mig_c ADD COLUMN d int",
    ]
    c = conn(port)
    c.autocommit = True
    applied = 0
    with c.cursor() as cur:
        for s in steps:
            try:
                cur.execute(s)
                applied += 1
            except psycopg2.Error as e:
                return {"applied": applied, "failed_at": applied + 1, "pgcode": e.pgcode,
                        "error": str(e).strip().splitlines()[0]}
    return {"applied": applied, "failed_at": None}


def connect(port):
    try:
        c = conn(port)
        with c.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        c.close()
        return {"result": "ok"}
    except psycopg2.Error as e:
        return {"result": "error", "pgcode": e.pgcode, "error": str(e).strip()}


def timing(port, n, sql):
    c = conn(port)
    c.autocommit = True
    ms = []
    with c.cursor() as cur:
        for _ in range(n):
            t = time.monotonic()
            cur.execute(sql)
            cur.fetchall()
            ms.append(round((time.monotonic() - t) * 1000, 2))
    return {"ms": ms}


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    t = time.monotonic()
    if mode == "deadlock":
        out = deadlock(port, int(sys.argv[3]))
    elif mode == "rows":
        out = rows(port)
    elif mode == "migrate":
        out = migrate(port)
    elif mode == "connect":
        out = connect(port)
    elif mode == "time":
        out = timing(port, int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit("unknown mode " + mode)
    out["seconds"] = round(time.monotonic() - t, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
