#!/usr/bin/env python3
"""client.py - rsr_vector from Python with psycopg2 (Debian: python3-psycopg2).

Loads random ternary (tvec) and binary (bit) rows with binary COPY, builds
rsr indexes, asks for the top 10 rows of a query bound as a Python list, and
for the top 10 of several queries at once with rsr_topk.  Every answer is
checked against a sequential scan and against scores computed here in
Python, so the script doubles as a test (`make test` runs it).

    python3 examples/client.py [DSN]    # default: libpq's PG* variables

The database needs `CREATE EXTENSION rsr_vector`; the script creates and
drops its own table, client_items.
"""
import io
import random
import struct
import sys

import psycopg2

DIMS = 256
ROWS = 5000
SEED = 7


def tvec_binary(elems):
    """External binary form of a tvec (what tvec_send writes and tvec_recv
    reads): int32 dim, big-endian, then the plus plane and the minus plane,
    each ceil(dim / 8) bytes; element j is bit 7 - j % 8 of byte j // 8
    (most significant bit first), +1 sets its bit in the plus plane, -1 in
    the minus plane, 0 in neither; padding bits are zero."""
    nbytes = (len(elems) + 7) // 8
    plus, minus = bytearray(nbytes), bytearray(nbytes)
    for j, x in enumerate(elems):
        if x == 1:
            plus[j // 8] |= 0x80 >> (j % 8)
        elif x == -1:
            minus[j // 8] |= 0x80 >> (j % 8)
    return struct.pack("!i", len(elems)) + bytes(plus) + bytes(minus)


def bit_binary(bits):
    """External binary form of bit(n)/varbit (PostgreSQL's varbit_send):
    int32 length in bits, big-endian, then the bits, most significant first,
    padding bits zero."""
    data = bytearray((len(bits) + 7) // 8)
    for j, x in enumerate(bits):
        if x:
            data[j // 8] |= 0x80 >> (j % 8)
    return struct.pack("!i", len(bits)) + bytes(data)


def copy_binary(rows):
    """A COPY ... (FORMAT binary) stream: signature, flags, header
    extension length, one tuple per row (int16 field count, then int32
    length and bytes per field), trailer -1."""
    out = io.BytesIO()
    out.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0))
    for fields in rows:
        out.write(struct.pack("!h", len(fields)))
        for f in fields:
            out.write(struct.pack("!i", len(f)) + f)
    out.write(struct.pack("!h", -1))
    out.seek(0)
    return out


def real(x):
    """x rounded to float32, as the server stores a real[] element"""
    return struct.unpack("f", struct.pack("f", x))[0]


def inner_product(elems, q):
    """The server's inner product: double sum of q[j] * x[j] in element order"""
    s = 0.0
    for x, qj in zip(elems, q):
        if x:
            s += qj if x > 0 else -qj
    return s


def main():
    rng = random.Random(SEED)
    conn = psycopg2.connect(sys.argv[1] if len(sys.argv) > 1 else "")
    cur = conn.cursor()

    # 1. Load rows with binary COPY: bigint (int64 big-endian), tvec, bit
    ternary = [[rng.choice((-1, 0, 1)) for _ in range(DIMS)] for _ in range(ROWS)]
    binary = [[rng.random() < 0.5 for _ in range(DIMS)] for _ in range(ROWS)]
    cur.execute("DROP TABLE IF EXISTS client_items")
    cur.execute(f"CREATE TABLE client_items (id bigint PRIMARY KEY, t tvec({DIMS}), b bit({DIMS}))")
    cur.copy_expert("COPY client_items (id, t, b) FROM STDIN (FORMAT binary)",
                    copy_binary((struct.pack("!q", i), tvec_binary(ternary[i]), bit_binary(binary[i]))
                                for i in range(ROWS)))
    cur.execute("CREATE INDEX client_items_t ON client_items USING rsr (t tvec_ip_ops)")
    cur.execute("CREATE INDEX client_items_b ON client_items USING rsr (b bit_ip_ops)")
    cur.execute("ANALYZE client_items")
    conn.commit()
    cur.execute("SELECT t::text FROM client_items WHERE id = 0")
    assert cur.fetchone()[0] == "[" + ",".join(map(str, ternary[0])) + "]", "tvec binary round trip"
    print(f"loaded {ROWS} rows of tvec({DIMS}) and bit({DIMS}) with binary COPY")

    # 2. Top 10 for one query: a Python list, bound as real[]
    q = [real(rng.gauss(0, 1)) for _ in range(DIMS)]
    top = ("SELECT id, t <#> %(q)s::real[] AS d FROM client_items "
           "ORDER BY t <#> %(q)s::real[] LIMIT 10")
    cur.execute("EXPLAIN " + top, {"q": q})
    plan = "\n".join(r[0] for r in cur.fetchall())
    assert "Index Scan using client_items_t" in plan, plan
    cur.execute(top, {"q": q})
    by_index = cur.fetchall()
    cur.execute("SET enable_indexscan = off")
    cur.execute(top, {"q": q})
    by_seqscan = cur.fetchall()
    cur.execute("RESET enable_indexscan")
    expect = sorted(((-inner_product(x, q), i) for i, x in enumerate(ternary)))[:10]
    assert [d for _, d in by_index] == [d for d, _ in expect], "scores differ from Python's"
    assert sorted(by_index) == sorted(by_seqscan), "index and seq scan differ"
    print("top 10 by index scan:", [i for i, _ in by_index])
    print("index scan == seq scan == Python:", sorted(by_index) == sorted((i, d) for d, i in expect))

    # 3. Top 10 of several queries in one call: a list of lists as real[][]
    queries = [[real(rng.gauss(0, 1)) for _ in range(DIMS)] for _ in range(4)]
    cur.execute("SELECT r.query, i.id, r.score FROM rsr_topk('client_items_b', %s::real[], 10) r "
                "JOIN client_items i ON i.ctid = r.tid ORDER BY r.query, r.score DESC, i.id",
                (queries,))
    got = {}
    for qn, i, score in cur.fetchall():
        got.setdefault(qn, []).append((i, score))
    ok = len(got) == len(queries)
    for n, qv in enumerate(queries, start=1):
        cur.execute("SELECT id, inner_product(b, %(q)s::real[]) FROM client_items "
                    "ORDER BY b <#> %(q)s::real[], id LIMIT 10", {"q": qv})
        ok = ok and sorted(got.get(n, [])) == sorted(cur.fetchall())
        best = max(inner_product(x, qv) for x in binary)
        ok = ok and got[n][0][1] == best
    print(f"rsr_topk of {len(queries)} queries == ORDER BY ... LIMIT 10 of each:", ok)
    assert ok

    cur.execute("DROP TABLE client_items")
    conn.commit()
    conn.close()


if __name__ == "__main__":
    main()
