"""`emowatch run`: watch folders and tag every photo that lands there, exactly once.

Modules, in the order a photo meets them:
- `watcher`     watchdog (inotify, or polling) -> `Seen` events; the handler filters and enqueues
- `paths`       which paths are photos for us (no hidden, temp, partial, sidecar files)
- `settle`      hold a file back until it is complete (closed/moved, quiet, structurally whole)
- `complete`    structural checks: JPEG EOI, PNG IEND, RIFF size, ISO-BMFF boxes, TIFF strips
- `queues`      the intake (each path once; live before backfill) and bounded stage buffers
- `gate`        does it need work? stamp, fingerprint, moved/copied photos, model version
- `pipeline`    decode workers -> batched inference -> explain + write -> ledger; retries
- `ledger`      SQLite (WAL) per-photo record; `lock`: one daemon per state folder
- `fingerprint` the stat stamp and the content fingerprint; `picture`: the picture digest
- `backfill`    the photos already there at start-up
- `events`      what the daemon reports, and the counters; `view`: live / plain / JSON output
- `status`      the ledger summarised for `emowatch status`
- `service`     `Daemon`, which wires the above; `serve`: signals for the CLI
- `memory`      malloc tuning that keeps a long run's RSS flat; `threads`, `clock`: plumbing
"""

from .ledger import Ledger
from .service import Daemon, watch_roots

__all__ = ["Daemon", "Ledger", "watch_roots"]
