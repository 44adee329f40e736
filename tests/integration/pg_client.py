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
import os

import db_client
import psycopg2
import psycopg2.errors


def conn(port):
    c = psycopg2.connect(host=os.environ.get("PG_CLIENT_HOST", "127.0.0.1"), port=port,
                         user="postgres", dbname="postgres", connect_timeout=5)
    return c


def deadlock(port, n):
    def classify(e):
        retry = isinstance(e, (psycopg2.errors.DeadlockDetected,
                               psycopg2.errors.SerializationFailure))
        return retry, e.pgcode == "40P01", "%s %s" % (e.pgcode, str(e).strip()[:100])

    return db_client.deadlock(conn(port), n, psycopg2.Error, classify)


def rows(port):
    c = conn(port)
    c.autocommit = True
    with c.cursor() as cur:
        cur.execute("SELECT id, name, qty, price, active FROM items ORDER BY id")
        got = [[r[0], r[1], r[2], str(r[3]), r[4]] for r in cur.fetchall()]
        types = [d.type_code for d in cur.description]
    return {"rows": got, "types": types}


def migrate(port):
    c = conn(port)
    c.autocommit = True
    return db_client.migrate(c, psycopg2.Error, lambda e: {
        "pgcode": e.pgcode, "error": str(e).strip().splitlines()[0]})


def connect(port):
    return db_client.connect(lambda: conn(port), psycopg2.Error, lambda e: {
        "pgcode": e.pgcode, "error": str(e).strip()})


def timing(port, n, sql):
    c = conn(port)
    c.autocommit = True
    return db_client.timing(c, int(n), sql)


if __name__ == "__main__":
    db_client.main({"deadlock": lambda p, n: deadlock(p, int(n)), "rows": rows,
                    "migrate": migrate, "connect": connect, "time": timing})
