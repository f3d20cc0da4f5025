"""Benchmarks: each module compares approaches side by side in one run (``make bench``)."""


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (ffmpeg): less sensitive to
    other load on the machine than wall time."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
