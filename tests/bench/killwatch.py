"""One watcher of bench_kill_db.sh: started before the kill (its imports
are slow under the VM), it prints "ready", reads the kill's time (an
epoch in seconds) from standard input, then polls every 10 ms until its
condition holds and prints the seconds since the kill (9.99: not within
10 s).

  table             no nftables table named duress_* in this namespace
                    (a netlink dump: no process started per poll)
  pg HOST PORT      a new PostgreSQL connection runs SELECT 1
  my HOST PORT USER a new MariaDB connection runs SELECT 1
  pgfree HOST PORT  PostgreSQL counts no client backend but the asker's
"""
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFT_MSG_GETTABLE = (10 << 8) | 1  # NFNL_SUBSYS_NFTABLES, NFT_MSG_GETTABLE
NLMSG_DONE, NLMSG_ERROR = 3, 2
NFTA_TABLE_NAME = 1


def nft_tables():
    """the names of every nftables table of this network namespace"""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER) as s:
        body = struct.pack("BBH", socket.AF_UNSPEC, 0, 0)
        s.send(struct.pack("=LHHLL", 16 + len(body), NFT_MSG_GETTABLE, 0x301, 1, 0) + body)
        names = []
        while True:
            data = s.recv(65536)
            off = 0
            while off + 16 <= len(data):
                ln, typ, _, _, _ = struct.unpack_from("=LHHLL", data, off)
                if ln < 16:
                    raise OSError("netlink: a message shorter than its header")
                if typ == NLMSG_DONE:
                    return names
                if typ == NLMSG_ERROR:
                    err = struct.unpack_from("=i", data, off + 16)[0]
                    if err:
                        raise OSError(-err, "netlink: nftables dump")
                else:
                    a = off + 20  # header, nfgenmsg
                    while a + 4 <= off + ln:
                        alen, atyp = struct.unpack_from("=HH", data, a)
                        if alen < 4:
                            break
                        if atyp & 0x7FFF == NFTA_TABLE_NAME:
                            names.append(data[a + 4:a + alen].split(b"\0")[0].decode())
                        a += (alen + 3) & ~3
                off += (ln + 3) & ~3


def check(args):
    kind = args[0]
    if kind == "table":
        return lambda: not any(n.startswith("duress_") for n in nft_tables())
    host, port = args[1], int(args[2])
    if kind in ("pg", "pgfree"):
        import psycopg2

        sql = ("SELECT 1" if kind == "pg" else
               "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
        want = 1 if kind == "pg" else 0

        def pg():
            c = psycopg2.connect(host=host, port=port, user="postgres", dbname="postgres", connect_timeout=1)
            try:
                cur = c.cursor()
                cur.execute(sql)
                return cur.fetchone()[0] == want
            finally:
                c.close()
        return pg
    if kind == "my":
        import pymysql

        def my():
            c = pymysql.connect(host=host, port=port, user=args[3], connect_timeout=1)
            try:
                with c.cursor() as cur:
                    cur.execute("SELECT 1")
                    return cur.fetchone()[0] == 1
            finally:
                c.close()
        return my
    raise SystemExit(f"killwatch: unknown kind {kind!r}")


def main():
    ok = check(sys.argv[1:])
    print("ready", flush=True)
    t0 = float(sys.stdin.readline())
    while time.time() - t0 < 10:
        try:
            if ok():
                print(f"{time.time() - t0:.3f}", flush=True)
                return
        except Exception:  # not back yet: refused, reset, the injected error
            pass
        time.sleep(0.01)
    print("9.99", flush=True)


main()
