"""Request metrics per deployment: cheap to record, right across processes.

Each process sums what it serves in memory, per deployment and minute, and
flushes those sums to the database every MLSERVE_METRICS_FLUSH_SECONDS (one
upsert per deployment and minute touched, not one write per request). Sums from
many processes and machines add up in the same rows, so the figures are right
however many gunicorn workers serve a deployment; a process's last seconds are
flushed when it exits.

Latencies are kept as a histogram with buckets 2^(1/4) apart (about 19 %), from
0.05 ms up: percentiles are read from it to within one bucket.
"""

import atexit
import logging
import math
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from deployments.models import Deployment, DeploymentTotals, MetricBucket

log = logging.getLogger(__name__)

BASE_MS = 0.05
RATIO = 2**0.25
N_BUCKETS = 100


def bucket_index(latency_ms: float) -> int:
    if latency_ms <= BASE_MS:
        return 0
    return min(N_BUCKETS - 1, math.ceil(math.log(latency_ms / BASE_MS, RATIO) - 1e-9))


def bucket_upper_ms(index: int) -> float:
    return BASE_MS * RATIO**index


def percentile(histogram: dict, q: float, low: float | None = None, high: float | None = None) -> float | None:
    """The q-quantile (0..1) of the latencies in a histogram, interpolated within its bucket."""
    counts = sorted((int(i), n) for i, n in histogram.items() if n)
    total = sum(n for _, n in counts)
    if not total:
        return None
    target = q * total
    seen = 0
    for index, n in counts:
        if seen + n >= target:
            lower = bucket_upper_ms(index - 1) if index > 0 else 0.0
            upper = bucket_upper_ms(index)
            value = lower + (upper - lower) * ((target - seen) / n)
            if low is not None:
                value = max(value, low)
            if high is not None:
                value = min(value, high)
            return value
        seen += n
    return high


@dataclass
class Aggregate:
    requests: int = 0
    errors: int = 0
    rows: int = 0
    latencies: int = 0
    by_status: Counter = field(default_factory=Counter)
    by_error: Counter = field(default_factory=Counter)
    by_source: Counter = field(default_factory=Counter)
    latency_sum_ms: float = 0.0
    latency_min_ms: float | None = None
    latency_max_ms: float | None = None
    histogram: Counter = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None

    def add(self, *, status: int, latency_ms: float | None, rows: int, error_code: str | None, source: str, when: datetime):
        self.requests += 1
        self.rows += rows
        self.by_status[str(status)] += 1
        self.by_source[source] += 1
        if status >= 400:
            self.errors += 1
            self.by_error[error_code or str(status)] += 1
        self.first = when if self.first is None else min(self.first, when)
        self.last = when if self.last is None else max(self.last, when)
        if latency_ms is None:
            return  # queued tasks: counted, but their minutes-long durations stay out of request latency
        self.latencies += 1
        self.latency_sum_ms += latency_ms
        self.latency_min_ms = latency_ms if self.latency_min_ms is None else min(self.latency_min_ms, latency_ms)
        self.latency_max_ms = latency_ms if self.latency_max_ms is None else max(self.latency_max_ms, latency_ms)
        self.histogram[str(bucket_index(latency_ms))] += 1

    def apply_to(self, row) -> None:
        """Add these sums to a MetricBucket or DeploymentTotals row."""
        row.requests += self.requests
        row.errors += self.errors
        row.rows += self.rows
        row.latency_count += self.latencies
        row.by_status = _merged(row.by_status, self.by_status)
        row.by_error = _merged(row.by_error, self.by_error)
        row.by_source = _merged(row.by_source, self.by_source)
        row.latency_sum_ms += self.latency_sum_ms
        row.latency_histogram = _merged(row.latency_histogram, self.histogram)
        if self.latency_min_ms is not None:
            row.latency_min_ms = self.latency_min_ms if row.latency_min_ms is None else min(row.latency_min_ms, self.latency_min_ms)
            row.latency_max_ms = self.latency_max_ms if row.latency_max_ms is None else max(row.latency_max_ms, self.latency_max_ms)


def _merged(stored: dict, new: Counter) -> dict:
    result = dict(stored or {})
    for key, value in new.items():
        result[key] = result.get(key, 0) + value
    return result


# ---- recording (per process) -------------------------------------------------------
#
# Nothing counted is thrown away on a failed flush (a locked or lost database): the sums go
# back into _pending and the next flush writes them. So that a long outage cannot grow memory
# without limit, at most MLSERVE_METRICS_MAX_PENDING buckets (deployment x minute) are held;
# beyond, the oldest minutes are dropped and the calls they held are counted per deployment
# (DeploymentTotals.dropped, on the monitoring page and API) once the database is back.

_pending: dict[tuple[int, datetime], Aggregate] = {}
_dropped: Counter = Counter()
_lock = threading.Lock()
_flush_lock = threading.Lock()
_flusher_pid: int | None = None


def _minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


def record(
    deployment_id: int,
    *,
    source: str,
    status: int,
    latency_ms: float | None,
    rows: int = 0,
    error_code: str | None = None,
    when: datetime | None = None,
) -> None:
    """Count one call; no database write here (a background thread flushes, see start_flusher)."""
    when = when or timezone.now()
    key = (deployment_id, _minute(when))
    with _lock:
        aggregate = _pending.get(key)
        if aggregate is None:
            aggregate = _pending[key] = Aggregate()
            _enforce_bound()
        aggregate.add(status=status, latency_ms=latency_ms, rows=rows, error_code=error_code, source=source, when=when)


def _enforce_bound() -> None:
    """Drop the oldest buckets beyond the bound, counting their calls (holding _lock)."""
    excess = len(_pending) - settings.MLSERVE_METRICS_MAX_PENDING
    if excess <= 0:
        return
    for key in sorted(_pending, key=lambda k: k[1])[:excess]:
        _dropped[key[0]] += _pending.pop(key).requests


def _give_back(pending: dict, dropped: Counter) -> None:
    """A flush failed: its sums go back to be written next time, added to what came meanwhile."""
    with _lock:
        for key, aggregate in pending.items():
            mine = _pending.get(key)
            if mine is None:
                _pending[key] = aggregate
            else:
                _combine(mine, aggregate)
        _dropped.update(dropped)
        _enforce_bound()


def pending_calls() -> int:
    """Calls counted in this process and not yet in the database (for tests and /healthz)."""
    with _lock:
        return sum(a.requests for a in _pending.values())


def flush() -> int:
    """Write this process's sums to the database, one transaction per deployment; returns how
    many buckets were written. What cannot be written is kept for the next flush; the error is raised."""
    with _flush_lock:  # the background thread and a reading request: one flush at a time
        with _lock:
            pending = dict(_pending)
            dropped = Counter(_dropped)
            _pending.clear()
            _dropped.clear()
        if not pending and not dropped:
            return 0

        by_deployment: dict[int, dict] = {}
        for (deployment_id, start), aggregate in pending.items():
            by_deployment.setdefault(deployment_id, {})[start] = aggregate
        for deployment_id in dropped:
            by_deployment.setdefault(deployment_id, {})
        written = 0
        try:
            existing = set(Deployment.objects.filter(pk__in=by_deployment).values_list("pk", flat=True))
            for deployment_id in list(by_deployment):
                if deployment_id in existing:  # else deleted meanwhile
                    buckets = by_deployment[deployment_id]
                    _write_deployment(deployment_id, buckets, dropped.get(deployment_id, 0))
                    written += len(buckets)
                del by_deployment[deployment_id]
                dropped.pop(deployment_id, None)
        except BaseException:
            _give_back({(d, start): a for d, buckets in by_deployment.items() for start, a in buckets.items()}, dropped)
            raise
        return written


def _write_deployment(deployment_id: int, buckets: dict[datetime, Aggregate], dropped: int) -> None:
    """A deployment's minute buckets and its totals, all or nothing (a retried flush never counts twice)."""
    total = Aggregate()
    with transaction.atomic():
        for start, aggregate in buckets.items():
            _upsert_bucket(deployment_id, start, aggregate)
            _combine(total, aggregate)
        _upsert_totals(deployment_id, total, dropped)


def start_flusher() -> threading.Thread | None:
    """Once per process (again after a fork): flush every MLSERVE_METRICS_FLUSH_SECONDS from a
    thread, so figures are that fresh whatever the number of processes, and no request writes."""
    global _flusher_pid
    interval = settings.MLSERVE_METRICS_FLUSH_SECONDS
    with _lock:
        if interval <= 0 or _flusher_pid == os.getpid():
            return None
        _flusher_pid = os.getpid()

    def loop():
        while True:
            time.sleep(interval)
            try:
                flush()
            except Exception as exc:  # kept for the next round; say so once per failure
                log.warning("metrics flush failed (%s: %s); %d calls kept for the next one", type(exc).__name__, exc, pending_calls())
                connection.close()

    thread = threading.Thread(target=loop, name="mlserve-metrics-flush", daemon=True)
    thread.start()
    return thread


def _combine(total: Aggregate, part: Aggregate) -> None:
    total.requests += part.requests
    total.errors += part.errors
    total.rows += part.rows
    total.latencies += part.latencies
    total.by_status.update(part.by_status)
    total.by_error.update(part.by_error)
    total.by_source.update(part.by_source)
    total.latency_sum_ms += part.latency_sum_ms
    total.histogram.update(part.histogram)
    for name, pick in (("latency_min_ms", min), ("latency_max_ms", max), ("first", min), ("last", max)):
        mine, theirs = getattr(total, name), getattr(part, name)
        setattr(total, name, theirs if mine is None else mine if theirs is None else pick(mine, theirs))


def _locked_row(model, lookup: dict):
    """The row for update, created if missing (a concurrent creator wins; we then lock theirs)."""
    for _ in range(3):
        row = model.objects.select_for_update().filter(**lookup).first()
        if row is not None:
            return row
        try:
            with transaction.atomic():
                return model.objects.create(**lookup)
        except IntegrityError:
            continue
    return model.objects.select_for_update().get(**lookup)


def _upsert_bucket(deployment_id: int, start: datetime, aggregate: Aggregate) -> None:
    with transaction.atomic():
        row = _locked_row(MetricBucket, {"deployment_id": deployment_id, "start": start})
        aggregate.apply_to(row)
        row.save()


def _upsert_totals(deployment_id: int, aggregate: Aggregate, dropped: int = 0) -> None:
    with transaction.atomic():
        row = _locked_row(DeploymentTotals, {"deployment_id": deployment_id})
        aggregate.apply_to(row)
        row.dropped += dropped
        if aggregate.first is not None:
            row.first_call = aggregate.first if row.first_call is None else min(row.first_call, aggregate.first)
            row.last_call = aggregate.last if row.last_call is None else max(row.last_call, aggregate.last)
        row.save()


def _flush_at_exit() -> None:
    try:
        flush()
    except Exception:  # the database may already be gone at shutdown
        pass


atexit.register(_flush_at_exit)


# ---- reading -----------------------------------------------------------------------


def latency_summary(row) -> dict:
    count = row.latency_count if row else 0
    if not count:
        return {"avg": None, "min": None, "max": None, "p50": None, "p95": None, "p99": None}
    low, high = row.latency_min_ms, row.latency_max_ms
    return {
        "avg": row.latency_sum_ms / count,
        "min": low,
        "max": high,
        "p50": percentile(row.latency_histogram, 0.50, low, high),
        "p95": percentile(row.latency_histogram, 0.95, low, high),
        "p99": percentile(row.latency_histogram, 0.99, low, high),
    }


def summary(deployment) -> dict:
    totals = DeploymentTotals.objects.filter(deployment=deployment).first()
    return {
        "requests": totals.requests if totals else 0,
        "errors": totals.errors if totals else 0,
        "rows": totals.rows if totals else 0,
        "by_status": totals.by_status if totals else {},
        "errors_by_kind": totals.by_error if totals else {},
        "by_source": totals.by_source if totals else {},
        "latency_ms": latency_summary(totals),
        "first_call": totals.first_call if totals else None,
        # Calls a process had to forget (its database was unreachable longer than it could hold them).
        "dropped": totals.dropped if totals else 0,
        "last_call": totals.last_call if totals else None,
    }


def series(deployment, *, span: timedelta, step: timedelta, now: datetime | None = None) -> list[dict]:
    """Calls, errors and latency per step over the last span (steps with no call are zeros)."""
    now = _minute(now or timezone.now())
    step_minutes = max(1, int(step.total_seconds() // 60))
    n_steps = max(1, int(span / step))
    first = now - step * (n_steps - 1)
    points = [{"start": first + step * i, "agg": None} for i in range(n_steps)]
    buckets = MetricBucket.objects.filter(deployment=deployment, start__gte=first, start__lt=now + step)
    for bucket in buckets:
        index = int((bucket.start - first).total_seconds() // 60) // step_minutes
        if 0 <= index < n_steps:
            agg = points[index]["agg"]
            if agg is None:
                points[index]["agg"] = bucket
            else:  # several minutes in one step: add them up
                agg.requests += bucket.requests
                agg.latency_count += bucket.latency_count
                agg.errors += bucket.errors
                agg.rows += bucket.rows
                agg.latency_sum_ms += bucket.latency_sum_ms
                agg.latency_histogram = _merged(agg.latency_histogram, Counter(bucket.latency_histogram))
                agg.latency_min_ms = _pick(min, agg.latency_min_ms, bucket.latency_min_ms)
                agg.latency_max_ms = _pick(max, agg.latency_max_ms, bucket.latency_max_ms)
    result = []
    for point in points:
        agg = point["agg"]
        latency = latency_summary(agg)
        result.append(
            {
                "start": point["start"],
                "requests": agg.requests if agg else 0,
                "errors": agg.errors if agg else 0,
                "rows": agg.rows if agg else 0,
                "per_minute": (agg.requests if agg else 0) / step_minutes,
                "latency_p50_ms": latency["p50"],
                "latency_p95_ms": latency["p95"],
                "latency_avg_ms": latency["avg"],
            }
        )
    return result


def _pick(choose, a, b):
    return b if a is None else a if b is None else choose(a, b)


def delete_old_buckets(days: int) -> int:
    deleted, _ = MetricBucket.objects.filter(start__lt=timezone.now() - timedelta(days=days)).delete()
    return deleted


def recent_health(deployment_ids: list[int], since: datetime) -> dict[int, dict]:
    """Per deployment since a time: calls, errors and p95 latency (for the dashboard)."""
    health: dict[int, dict] = {}
    for bucket in MetricBucket.objects.filter(deployment_id__in=deployment_ids, start__gte=_minute(since)):
        entry = health.setdefault(bucket.deployment_id, {"requests": 0, "errors": 0, "histogram": {}, "low": None, "high": None})
        entry["requests"] += bucket.requests
        entry["errors"] += bucket.errors
        entry["histogram"] = _merged(entry["histogram"], Counter(bucket.latency_histogram))
        entry["low"] = _pick(min, entry["low"], bucket.latency_min_ms)
        entry["high"] = _pick(max, entry["high"], bucket.latency_max_ms)
    for entry in health.values():
        entry["p95_ms"] = percentile(entry.pop("histogram"), 0.95, entry.pop("low"), entry.pop("high"))
    return health
