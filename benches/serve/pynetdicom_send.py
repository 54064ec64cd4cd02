"""Send DICOM files with pynetdicom's C-STORE SCU, each in its own transfer syntax.

    python pynetdicom_send.py HOST PORT CALLING_AE CALLED_AE FILE... [--associations N]

Files are sent from disk as they are (pynetdicom reads a path's data set without decoding it),
over one association, or N associations one after another. Prints one JSON object: the status
of each file in order (null when the association failed), and the seconds taken.
"""

import json
import sys
import time

from pydicom import dcmread
from pynetdicom import AE


def main(argv):
    assocs = 1
    if "--associations" in argv:
        i = argv.index("--associations")
        assocs = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    host, port, calling, called, *files = argv
    contexts = {}
    uids = {}
    for f in files:
        ds = dcmread(f, stop_before_pixels=True)
        ts = str(ds.file_meta.TransferSyntaxUID)
        contexts.setdefault(str(ds.SOPClassUID), set()).add(ts)
    ae = AE(ae_title=calling)
    for sop, tss in contexts.items():
        for ts in sorted(tss):
            ae.add_requested_context(sop, [ts])
    statuses = []
    start = time.perf_counter()
    per = -(-len(files) // assocs)
    for k in range(assocs):
        part = files[k * per:(k + 1) * per]
        if not part:
            continue
        assoc = ae.associate(host, int(port), ae_title=called)
        if not assoc.is_established:
            statuses.extend([None] * len(part))
            continue
        for f in part:
            status = assoc.send_c_store(f)
            statuses.append(int(status.Status) if status else None)
        assoc.release()
    print(json.dumps({"statuses": statuses, "seconds": time.perf_counter() - start}))


if __name__ == "__main__":
    main(sys.argv[1:])
