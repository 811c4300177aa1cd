"""How torch's OpenMP (libgomp) threads wait: one setting for the stages that train or time.

Threads spin ``GOMP_SPINCOUNT`` rounds before they sleep; it must be set before torch loads.
Never spinning (``OMP_WAIT_POLICY=PASSIVE``, used before) made an idle training epoch 1.3-1.7x
as long on 2-core machines; spinning long makes every parallel region crawl when another job
shares the cores. 2-thread ds_cnn epoch, idle / beside a second training (Intel Xeon; README:
What it costs): PASSIVE 10.1 s idle, 1000 10.1 / 16 s, 10000 7.8 / 24 s, 30000 7.9 / 43 s.
A default run is alone on the machine; for runs side by side, export ``GOMP_SPINCOUNT=1000``
(an exported value wins). The wait does not change the arithmetic: same weights either way.
"""

import os

SPIN_ROUNDS = "10000"


def spin_briefly() -> None:
    """Set libgomp's spin count (unless exported); call before ``import torch``."""
    os.environ.setdefault("GOMP_SPINCOUNT", SPIN_ROUNDS)
