#!/usr/bin/env python3
# gen_rows.py - seeded random embeddings for the SQL benchmarks, written as
# COPY ... (FORMAT binary) rows of (id bigint, v tvec | bit).
#
# usage: gen_rows.py ROWS DIMS ternary|binary [SEED] | psql -c "COPY t FROM STDIN (FORMAT binary)"
#
# Ternary rows: each element is +1, -1 with probability 1/4 each and 0 with
# probability 1/2 (the two bit planes are a & ~b and ~a & b of two random
# bit strings).  Binary rows: each bit is 1 with probability 1/2.
import random
import struct
import sys


def main():
    rows = int(sys.argv[1])
    dims = int(sys.argv[2])
    kind = sys.argv[3]
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    if kind not in ("ternary", "binary"):
        sys.exit("kind must be ternary or binary")
    rng = random.Random(seed)
    nbytes = (dims + 7) // 8
    nbits = nbytes * 8
    pad = (1 << (nbits - dims)) - 1          # padding bits past dims: zero
    keep = ((1 << nbits) - 1) ^ pad
    out = sys.stdout.buffer
    out.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0))
    vlen = 4 + (2 if kind == "ternary" else 1) * nbytes
    buf = []
    for i in range(1, rows + 1):
        a = int.from_bytes(rng.randbytes(nbytes), "big") & keep
        if kind == "ternary":
            b = int.from_bytes(rng.randbytes(nbytes), "big") & keep
            body = ((a & ~b) & keep).to_bytes(nbytes, "big") + ((~a & b) & keep).to_bytes(nbytes, "big")
        else:
            body = a.to_bytes(nbytes, "big")
        buf.append(struct.pack("!hiqii", 2, 8, i, vlen, dims) + body)
        if len(buf) == 4096:
            out.write(b"".join(buf))
            buf.clear()
    out.write(b"".join(buf))
    out.write(struct.pack("!h", -1))


if __name__ == "__main__":
    main()
