"""Training for emowatch's emotion model (needs the `train` extra: torch, torchvision, ...)."""

import os as _os

# On a shared 2-core machine, OpenMP threads that busy-wait for each other while another
# process holds a core make torch 10-50x slower (measured: a head step 17 ms -> 400 ms).
# Passive waiting must be chosen before torch starts its thread pool, hence here.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
