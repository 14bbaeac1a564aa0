"""``kubectl sj ui``: a local web UI over the caller's kubeconfig (the fleet, a timeline, a
ScheduledJob's history, Events and backfills, a run's logs; run now, suspend, resume, backfill).

:mod:`kubectl_sj.ui.views` turns ScheduledJobs into what the pages show (pure); the templates draw
the charts as inline SVG; :mod:`kubectl_sj.ui.server` is the aiohttp application and the one part
that reads the API (through :class:`kubectl_sj.client.Cluster`, so every read and action is made
with the user's own credentials and RBAC).
"""

__all__: list[str] = []
