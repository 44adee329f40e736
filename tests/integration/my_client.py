#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The application side of test_fault_mysql.sh: a python3-pymysql client.

my_client.py MODE PORT [ARGS] prints one JSON object:
  deadlock PORT N   N transactions (BEGIN; UPDATE; COMMIT), each retried on
                    1213 until it commits: how many first attempts saw 1213,
                    retries, other errors, the table's total afterwards
  rows PORT         SELECT ... FROM items ORDER BY id (text protocol)
  binrows PORT      the same as a prepared statement (COM_STMT_PREPARE and
                    COM_STMT_EXECUTE, binary rows), spoken over pymysql's
                    connection: pymysql itself has only the text protocol
  multi PORT        three result sets and an OK of one COM_QUERY, then one more
  migrate PORT      five schema changes in order, stopping at the first error
  connect PORT      one connection and SELECT 1: "ok" or the error
  time PORT N SQL   N times SQL on one connection: each one's milliseconds

The server is on 127.0.0.1 as root, or at $MY_CLIENT_HOST as $MY_CLIENT_USER
(a target's address, as test_db_redirect_mysql.sh gives it).
"""
import os
import struct

import db_client
import pymysql
from pymysql.constants import CLIENT, COMMAND, FIELD_TYPE
from pymysql.protocol import FieldDescriptorPacket

COLS = "id, name, qty, price, w, b, n"


def conn(port, **kw):
    return pymysql.connect(host=os.environ.get("MY_CLIENT_HOST", "127.0.0.1"), port=port,
                           user=os.environ.get("MY_CLIENT_USER", "root"), database="t",
                           connect_timeout=5, **kw)


def deadlock(port, n):
    c = conn(port)
    return db_client.deadlock(c, n, pymysql.err.MySQLError,
                              lambda e: (e.args[0] == 1213, True, "%s %s" % e.args[:2]),
                              begin=c.begin)


def rows(port):
    c = conn(port, autocommit=True)
    with c.cursor() as cur:
        cur.execute("SELECT %s FROM items ORDER BY id" % COLS)
        got = [[None if v is None else str(v) for v in r] for r in cur.fetchall()]
        types = [d[1] for d in cur.description]
    return {"rows": got, "types": types}


def lenenc(b, i):
    f = b[i]
    if f < 0xfb:
        return f, i + 1
    if f == 0xfc:
        return struct.unpack_from("<H", b, i + 1)[0], i + 3
    if f == 0xfd:
        return int.from_bytes(b[i + 1:i + 4], "little"), i + 4
    return struct.unpack_from("<Q", b, i + 1)[0], i + 9


def binrows(port):
    """COM_STMT_PREPARE, COM_STMT_EXECUTE, the binary rows decoded by hand."""
    c = conn(port, autocommit=True)
    c._execute_command(COMMAND.COM_STMT_PREPARE, "SELECT %s FROM items ORDER BY id" % COLS)
    ok = c._read_packet().get_all_data()
    if ok[0] != 0:
        raise RuntimeError("prepare: %r" % ok)
    sid, ncols, nparams = struct.unpack_from("<IHH", ok, 1)
    for _ in range(ncols + (1 if ncols else 0) + nparams + (1 if nparams else 0)):
        c._read_packet()
    c._execute_command(COMMAND.COM_STMT_EXECUTE, struct.pack("<IBI", sid, 0, 1))
    try:
        first = c._read_packet().get_all_data()
    except pymysql.err.MySQLError as e:  # the ERR packet, parsed by pymysql
        return {"error": e.args[0], "message": str(e.args[1])}
    n, _ = lenenc(first, 0)
    fields = [c._read_packet(FieldDescriptorPacket) for _ in range(n)]
    c._read_packet()  # EOF
    out = []
    while True:
        p = c._read_packet().get_all_data()
        if p[0] == 0xfe and len(p) < 9:
            break
        if p[0] != 0:
            raise RuntimeError("row header %r" % p[:8])
        nb = (n + 7 + 2) // 8
        bitmap, i, row = p[1:1 + nb], 1 + nb, []
        for k, f in enumerate(fields):
            if bitmap[(k + 2) // 8] & (1 << ((k + 2) % 8)):
                row.append(None)
                continue
            t = f.type_code
            if t == FIELD_TYPE.LONG:
                row.append(str(struct.unpack_from("<i", p, i)[0]))
                i += 4
            elif t == FIELD_TYPE.LONGLONG:
                row.append(str(struct.unpack_from("<q", p, i)[0]))
                i += 8
            elif t == FIELD_TYPE.DOUBLE:
                row.append(repr(struct.unpack_from("<d", p, i)[0]))
                i += 8
            else:
                ln, i = lenenc(p, i)
                row.append(p[i:i + ln].decode())
                i += ln
        if i != len(p):
            raise RuntimeError("row of %d bytes, %d read" % (len(p), i))
        out.append(row)
    c._execute_command(COMMAND.COM_STMT_CLOSE, struct.pack("<I", sid))
    with c.cursor() as cur:  # the connection goes on after it
        cur.execute("SELECT 1")
        cur.fetchall()
    return {"rows": out, "types": [f.type_code for f in fields]}


def multi(port):
    """Several result sets of one COM_QUERY, then the connection goes on."""
    c = conn(port, autocommit=True, client_flag=CLIENT.MULTI_STATEMENTS)
    sets = []
    with c.cursor() as cur:
        cur.execute("SELECT id FROM items WHERE id = 1; SELECT 42; "
                    "SELECT name FROM items WHERE id = 2; DO 0")
        while True:
            if cur.description:
                sets.append([str(v) for r in cur.fetchall() for v in r])
            if not cur.nextset():
                break
        cur.execute("SELECT 41 + 1")
        after = cur.fetchone()[0]
    return {"sets": sets, "after": after}


def migrate(port):
    return db_client.migrate(conn(port, autocommit=True), pymysql.err.MySQLError,
                             lambda e: {"errno": e.args[0], "error": str(e.args[1])})


def connect(port):
    return db_client.connect(lambda: conn(port), pymysql.err.MySQLError,
                             lambda e: {"errno": e.args[0], "error": str(e.args[-1])})


def timing(port, n, sql):
    return db_client.timing(conn(port, autocommit=True), int(n), sql)


if __name__ == "__main__":
    db_client.main({"deadlock": lambda p, n: deadlock(p, int(n)), "rows": rows,
                    "binrows": binrows, "multi": multi, "migrate": migrate,
                    "connect": connect, "time": timing})
