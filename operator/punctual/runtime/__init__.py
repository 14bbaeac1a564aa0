"""The runtime shell: kopf, the caches, the scheduler and the API around the pure core. Not pure.

* :mod:`~punctual.runtime.app`: the :class:`Operator` (wiring, settings, kopf, HTTP);
* :mod:`~punctual.runtime.command`: ``punctual run`` (settings, logging, exit codes);
* :mod:`~punctual.runtime.cache`: the ScheduledJob, Job and Pod caches (listers);
* :mod:`~punctual.runtime.reconcile`: the numbered steps of one reconcile, against a ``JobControl``;
* :mod:`~punctual.runtime.status_writer`: status merge patches, batched and never overlapping;
* :mod:`~punctual.runtime.recorder`: Events, within a per-object budget;
* :mod:`~punctual.runtime.leadership`: leader election on a Lease, the rule (pure) and its loop;
* :mod:`~punctual.runtime.observe`, :mod:`~punctual.runtime.http`: metrics from a reconcile, the endpoints;
* :mod:`~punctual.runtime.background`: status writes and Event posts in flight.

Nothing is imported here: importing one runtime module (``punctual.runtime.settings``, say) does not
load kopf and the whole operator. Import from the module that defines a name.
"""

__all__: list[str] = []
