"""Write .npz archives whose float32 members recur maps in place.

np.savez stores members uncompressed but at whatever offset the zip headers
leave (a zip local header is 30 bytes plus the name): the array data then
start 2-byte aligned at best, and a reader that wants float32 in place must
copy. save_aligned pads each member's local header with an unused extra
field (id 0x6e70) so that the .npy header, itself padded by numpy to a
multiple of 64 bytes, and hence the data, start at a multiple of 64 in the
file. The archive is an ordinary zip: np.load reads it as any other .npz.
"""
import struct
import zipfile

import numpy as np
from numpy.lib import format as npformat

ALIGN = 64
PAD_ID = 0x6E70


def _npy_header(arr):
    import io
    b = io.BytesIO()
    npformat.write_array_header_1_0(b, npformat.header_data_from_array_1_0(arr))
    return b.getvalue()


def save_aligned(path, **arrays):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for name, arr in arrays.items():
            arr = np.ascontiguousarray(arr)
            head = _npy_header(arr)
            size = len(head) + arr.nbytes
            zi = zipfile.ZipInfo(name + ".npy", (1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_STORED
            zi.file_size = size
            # Python adds a 20-byte zip64 extra to the local header when the
            # member may pass 2 GiB (the same test as zipfile's own).
            zip64 = size * 1.05 > zipfile.ZIP64_LIMIT
            fname = zi.filename.encode("utf-8")
            start = z.fp.tell() + 30 + len(fname) + (20 if zip64 else 0)
            pad = (-(start + 4)) % ALIGN
            zi.extra = struct.pack("<HH", PAD_ID, pad) + b"\0" * pad
            with z.open(zi, "w", force_zip64=zip64) as f:
                f.write(head)
                flat = arr.reshape(-1)
                step = max(1, (64 << 20) // max(1, arr.itemsize))
                for i in range(0, flat.size, step):
                    f.write(flat[i:i + step].tobytes())
