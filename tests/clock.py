"""A virtual monotonic clock for the tests: ``sleep`` records each delay and moves time on at
once, so that no test sleeps for real where a clock can be injected."""


class Clock:
    def __init__(self, now=1000.0):
        self.now = now
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def max_in_any_second(times):
    """The most of ``times`` that fall in any sliding window of one second."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best
