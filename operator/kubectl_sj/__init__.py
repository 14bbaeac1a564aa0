"""`kubectl sj`: the kubectl plugin for Punctual ScheduledJobs."""

__all__: list[str] = []
