"""What ``tools/train.py`` and ``tools/test.py`` share, one concern per module: ``config`` (loading,
scope, work dir, safety hooks, the Runner), ``amp`` (mixed precision), ``launch`` (CPU multi-process
training) and ``logs`` (reading logged scalars)."""
