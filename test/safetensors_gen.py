#!/usr/bin/env python3
# safetensors_gen.py - write the small safetensors files (good and bad) and
# the reference values that sql/rsr_safetensors.sql reads, using only the
# standard library: the bytes are laid out here by hand, from the format's
# description (8-byte little-endian header length, JSON header, raw data),
# not by the safetensors library.  F16 values come from struct's 'e' format
# and BF16 values are the upper halves of exactly representable F32 values,
# so the conversions are checked against an independent encoder.  The BitNet
# packing follows transformers' pack_weights(): output row r = i * P + p is
# stored as value + 1 in bits 2i..2i+1 of packed row p, P = out / 4.
#
# Usage: safetensors_gen.py DIR         (the regression test's files)
#        safetensors_gen.py --seeds DIR (the fuzz seed corpus)
import json
import os
import random
import struct
import sys


def f32(v):
    return struct.pack('<f', v)


def f16(v):
    return struct.pack('<e', v)


def bf16(v):
    b = struct.pack('<f', v)
    if b[:2] != b'\0\0':
        raise ValueError('%r is not exact in bfloat16' % v)
    return b[2:]


def to_f32(v):
    return struct.unpack('<f', struct.pack('<f', v))[0]


def build(tensors, metadata=None, pad=0, header=None):
    """tensors: list of (name, dtype, shape, bytes); returns the file bytes"""
    entries = {}
    data = b''
    if metadata is not None:
        entries['__metadata__'] = metadata
    for name, dtype, shape, raw in tensors:
        entries[name] = {'dtype': dtype, 'shape': shape,
                         'data_offsets': [len(data), len(data) + len(raw)]}
        data += raw
    if header is None:
        header = json.dumps(entries, ensure_ascii=False).encode('utf-8')
    header += b' ' * pad
    return struct.pack('<Q', len(header)) + header + data


def raw_file(header, data=b'', length=None):
    """a file with a hand-written header (bytes) and data"""
    n = len(header) if length is None else length
    return struct.pack('<Q', n) + header + data


def quantize(rows):
    """ternary_quantize's rule over the whole matrix: (scale, elements)"""
    total = 0.0
    count = 0
    for row in rows:
        for v in row:
            total += abs(v)
            count += 1
    scale = total / count if count else 0.0
    out = []
    for row in rows:
        q = []
        for v in row:
            if scale > 0:
                r = max(-1.0, min(1.0, v / scale))
                q.append(int(round(r)))   # round half to even, like rint
            else:
                q.append(0)
        out.append(q)
    return scale, out


def pack_bitnet(w):
    """pack a ternary matrix (out x in, out % 4 == 0) as pack_weights does"""
    out = len(w)
    p_rows = out // 4
    packed = [[0] * len(w[0]) for _ in range(p_rows)]
    for r in range(out):
        i, p = divmod(r, p_rows)
        for j, v in enumerate(w[r]):
            packed[p][j] |= (v + 1) << (2 * i)
    return b''.join(bytes(row) for row in packed)


# Weights with known values: every row has sum |x| = 4 over 8 columns, so
# the whole-tensor scale (0.5) is also each row's own, and rows must equal
# ternary_quantize(row).  Ties: 0.25 / 0.5 = 0.5 and -0.5 round to 0.
KNOWN = [
    [0.25, -0.25, 0.5, -0.5, 1.0, -1.0, 0.375, 0.125],
    [0.0, 0.0, 0.0, 0.0, 2.0, -2.0, 0.0, 0.0],
    [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
    [-0.75, 0.75, -0.25, 0.25, -1.5, 0.5, 0.0, -0.0],
]


def flat(rows, enc):
    return b''.join(enc(v) for row in rows for v in row)


def weights_file():
    rnd = random.Random(15)
    mixed = [[to_f32(rnd.uniform(-2, 2)) for _ in range(24)] for _ in range(16)]
    ternary = [[rnd.choice((-1, 0, 1)) for _ in range(5)] for _ in range(12)]
    tensors = [
        ('known.f32', 'F32', [4, 8], flat(KNOWN, f32)),
        ('known.f16', 'F16', [4, 8], flat(KNOWN, f16)),
        ('known.bf16', 'BF16', [4, 8], flat(KNOWN, bf16)),
        ('mixed', 'F32', [16, 24], flat(mixed, f32)),
        # one value each: the scale is |value|, which shows the conversion
        ('f16.min_subnormal', 'F16', [1, 1], b'\x01\x00'),
        ('f16.max_subnormal', 'F16', [1, 1], b'\xff\x03'),
        ('f16.min_normal', 'F16', [1, 1], b'\x00\x04'),
        ('f16.max', 'F16', [1, 1], b'\xff\x7b'),
        ('f16.neg', 'F16', [1, 1], f16(-2.5)),
        ('bf16.min_subnormal', 'BF16', [1, 1], b'\x01\x00'),
        ('bf16.max', 'BF16', [1, 1], b'\x7f\x7f'),
        ('bf16.one_plus', 'BF16', [1, 1], b'\x81\x3f'),
        ('zeros', 'F32', [2, 3], flat([[0.0] * 3] * 2, f32)),
        ('empty', 'F32', [0, 3], b''),
        ('packed', 'U8', [3, 5], pack_bitnet(ternary)),
        ('packed.weight_scale', 'BF16', [1], bf16(2.0)),
        ('packed.bad_scale', 'F32', [2], f32(1.0) + f32(2.0)),
        ('packed.zero_scale', 'F16', [], f16(0.0)),
        ('bias', 'F32', [8], flat([KNOWN[0]], f32)),
        ('conv', 'F32', [2, 2, 2], flat([KNOWN[0]], f32)),
        ('ints', 'I32', [2, 2], struct.pack('<4i', 1, -1, 0, 2)),
        ('wide', 'F32', [0, 65536], b''),
        ('nan', 'F32', [1, 2], f32(1.0) + struct.pack('<I', 0x7fc00000)),
        ('inf', 'BF16', [2, 1], bf16(1.0) + b'\x80\xff'),
        ('caf\u00e9 "q"', 'BOOL', [1], b'\x01'),
    ]
    meta = {'format': 'pt', 'note': '{"nested": [1, 2]}'}
    return build(tensors, metadata=meta, pad=5), mixed, ternary


def layer_file():
    """the end-to-end layer: BF16 weights, an activation, y = W x in float64"""
    rnd = random.Random(1558)
    rows, cols = 512, 320
    w = []
    for _ in range(rows):
        row = []
        for _ in range(cols):
            # a BF16 value: a float32 with the low 16 bits cleared
            v = struct.unpack('<f', struct.pack('<f', rnd.gauss(0, 0.02)))[0]
            b = struct.pack('<f', v)
            row.append(struct.unpack('<f', b'\0\0' + b[2:])[0])
        w.append(row)
    x = [to_f32(rnd.uniform(-1, 1)) for _ in range(cols)]
    scale, q = quantize(w)
    dots = []
    for row in q:
        s = 0.0
        for e, xv in zip(row, x):   # nonzero terms in element order, in double
            if e:
                s += xv if e > 0 else -xv
        dots.append(s)
    data = build([('model.layers.0.mlp.down_proj.weight', 'BF16', [rows, cols],
                   flat(w, bf16))], metadata={'format': 'pt'})
    return data, x, scale, dots


def write(path, data):
    with open(path, 'wb') as f:
        f.write(data)


def bad_files():
    """name -> bytes of each malformed file"""
    good_entry = b'"t": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}'
    data16 = b'\0' * 16
    deep = b'{"__metadata__": ' + b'[' * 40 + b']' * 40 + b', ' + good_entry + b'}'
    return {
        'empty': b'',
        'short': b'\x05\x00\x00',
        'header_past_end': raw_file(b'{}', length=1000),
        'header_huge': struct.pack('<Q', 1 << 40) + b'{}',
        'header_over_cap': struct.pack('<Q', 100000001) + b'{}',
        'truncated': raw_file(b'{' + good_entry + b'}', data16[:10]),
        'not_json': raw_file(b'{"t": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]', data16),
        'trailing_junk': raw_file(b'{' + good_entry + b'} x', data16),
        'nul_in_header': raw_file(b'{' + good_entry + b'}\0', data16),
        'not_object': raw_file(b'[1, 2]'),
        'deep': raw_file(deep, data16),
        'bad_dtype': raw_file(b'{"t": {"dtype": "F128", "shape": [2, 2], "data_offsets": [0, 16]}}', data16),
        'missing_field': raw_file(b'{"t": {"dtype": "F32", "shape": [2, 2]}}', data16),
        'float_shape': raw_file(b'{"t": {"dtype": "F32", "shape": [2.0, 2], "data_offsets": [0, 16]}}', data16),
        'negative_offset': raw_file(b'{"t": {"dtype": "F32", "shape": [2, 2], "data_offsets": [-1, 16]}}', data16),
        'offsets_past_end': raw_file(b'{"t": {"dtype": "F32", "shape": [2, 2], "data_offsets": [1000, 1016]}}', data16),
        'offsets_reversed': raw_file(b'{"t": {"dtype": "F32", "shape": [0, 2], "data_offsets": [16, 0]}}', data16),
        'overlap': raw_file(b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
                            b'"b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}', data16),
        'size_mismatch': raw_file(b'{"t": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}}', data16),
        'shape_overflow': raw_file(b'{"t": {"dtype": "F32", "shape": [4294967296, 4294967296, 4], '
                                   b'"data_offsets": [0, 16]}}', data16),
        'number_overflow': raw_file(b'{"t": {"dtype": "F32", "shape": [99999999999999999999], '
                                    b'"data_offsets": [0, 16]}}', data16),
        'too_many_dims': raw_file(b'{"t": {"dtype": "F32", "shape": [' + b', '.join([b'1'] * 17) +
                                  b'], "data_offsets": [0, 4]}}', data16),
        'duplicate': raw_file(b'{"t": {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]}, '
                              b'"t": {"dtype": "F32", "shape": [1, 2], "data_offsets": [8, 16]}}', data16),
        'bad_utf8_name': raw_file(b'{"\xff": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}', data16),
        'bad_packed': build([('w', 'U8', [1, 2], b'\x3f\x00')]),
        'lone_surrogate': raw_file(b'{"\\ud800x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}', data16),
        'nul_escape': raw_file(b'{"a\\u0000": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}', data16),
    }


def escapes_file():
    """names written with JSON escapes (surrogate pair included) and raw UTF-8"""
    header = (b'{"a\\u00e9\\ud83d\\ude00\\"\\\\\\/": {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]}, '
              b'"\xc3\xa9t\xc3\xa9": {"dtype": "F16", "shape": [1, 2], "data_offsets": [8, 12]}}')
    return raw_file(header, f32(1.0) + f32(-3.0) + f16(-1.0) + f16(0.5))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == '--seeds':
        out = sys.argv[2]
        os.makedirs(out, exist_ok=True)
        write(os.path.join(out, 'weights'), weights_file()[0])
        write(os.path.join(out, 'escapes'), escapes_file())
        for name, data in bad_files().items():
            write(os.path.join(out, name), data)
        small = build([('a', 'BF16', [2, 3], flat([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], bf16)),
                       ('p', 'U8', [1, 3], pack_bitnet([[1, 0, -1]] * 4)),
                       ('s', 'F16', [1], f16(0.25))], metadata={'k': 'v'})
        write(os.path.join(out, 'small'), small)
        return 0
    if len(sys.argv) != 2:
        print('usage: safetensors_gen.py DIR | --seeds DIR', file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    os.chmod(out, 0o755)

    data, mixed, ternary = weights_file()
    write(os.path.join(out, 'weights.safetensors'), data)
    with open(os.path.join(out, 'mixed.csv'), 'w') as f:
        for i, row in enumerate(mixed):
            for j, v in enumerate(row):
                f.write('%d,%d,%.9g\n' % (i, j, v))
    with open(os.path.join(out, 'packed.csv'), 'w') as f:
        for r, row in enumerate(ternary):
            f.write('%d,"{%s}"\n' % (r, ','.join(str(v) for v in row)))

    data, x, scale, dots = layer_file()
    write(os.path.join(out, 'layer.safetensors'), data)
    with open(os.path.join(out, 'layer_x.csv'), 'w') as f:
        for j, v in enumerate(x):
            f.write('%d,%.9g\n' % (j, v))
    with open(os.path.join(out, 'layer_y.csv'), 'w') as f:
        for r, d in enumerate(dots):
            f.write('%d,%.17g,%.17g\n' % (r, d, scale))

    write(os.path.join(out, 'escapes.safetensors'), escapes_file())
    for name, data in bad_files().items():
        write(os.path.join(out, 'bad_%s.safetensors' % name), data)
    for name in os.listdir(out):
        os.chmod(os.path.join(out, name), 0o644)
    return 0


if __name__ == '__main__':
    sys.exit(main())
