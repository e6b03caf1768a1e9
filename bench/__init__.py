"""Throughput and latency benchmarks of the ingest and aggregate workers against raw aiokafka loops.

``.venv/bin/python -m bench run [--events N] [--only ingest|aggregate] [--repeat 3] [--budget 20]``

Each benchmark starts its own Apache Kafka broker (``services.localkafka.LocalBroker`` in a temporary folder,
free ports, 1 GB heap) so results never depend on a developer's broker, and every run uses its own namespace
(topics, consumer group, state folder). What is measured:

Throughput
    The input is published first (a pre-loaded topic), then the consumer is started. Its output topics are
    created with ``message.timestamp.type=LogAppendTime``, so every output carries the broker time it was
    appended (= acknowledged, one replica). Processing time runs from the first output to the last one, plus one
    average batch for the first batch (processed before the first output exists): (last − first) × nb / (nb − 1).
    A run stops when its input is processed or ``--budget`` seconds after it started making progress (then the
    end is the moment the worker's processed-events metric was read). The worker (``tiendo ingest``/``tiendo
    aggregate`` as a subprocess, ``tests.workers.Worker``) and the raw loop (``bench/raw_*.py``, also a
    subprocess) run interleaved, ``--repeat`` times each; medians are reported. CPU time per event (from
    /proc, over the processing part of the run) is reported too: it depends much less on other load on the
    machine than events/s.

Latency
    The worker's ``tiendo_<worker>_processing_latency_seconds`` histogram (p50/p99), which for a pre-loaded topic
    mostly measures how long events waited in the topic; and a paced run (``--rate`` events/s for
    ``--paced-seconds`` into a consumer that is already running): per event, the broker append time of its output
    minus that of its input.

Aggregate recovery and memory
    A worker is fed 100,000 updates of as many series, its RSS read (/proc VmRSS), then it is SIGKILLed, its
    state folder deleted and restarted: seconds until ``/health`` is 200 and the worker's
    ``tiendo_aggregate_recovery_duration_seconds``.

Alerting (``bench/alerting.py``, ``--only alerting``)
    The three workers and a real Alertmanager (group_wait 0 s) under ``--alert-rate`` ordinary feed events/s:
    breach → recover cycles of one feed event, event → page and event → resolve latency at the webhook (broker
    append time of the event to arrival, minus the configured group_wait), p50/p99; the workers' RSS with
    ``--recovery-keys`` series in the aggregate's state; the aggregate recovery above (measured here when the
    aggregate benchmark did not run).

Scaling (``bench/scaling.py``, ``--only scaling``)
    The aggregate worker's updates/s, CPU per update and RSS with ``--scaling-keys`` series (10,000, 100,000,
    1,000,000), each point bounded by ``--scaling-budget``: a table and ``bench/scaling.png``.

End-to-end pipeline (``bench/pipeline.py``, ``--only pipeline``)
    Feed topics → ``tiendo ingest`` → ``tiendo aggregate`` → ``indicator.totals`` against the same job written
    as a raw aiokafka loop, per-event Faust agents and Quix Streams (``bench/peers``), for each of
    ``--pipeline-sizes`` × ``--pipeline-partitions`` (P partitions: P processes of each worker): events/s, CPU per
    event and RSS as ratios to tiendo, a totals check against an oracle, and the event → total latency of a paced
    run.

Results go to ``bench/results/<date>-<name>.json`` and a section appended to ``bench/RESULTS.md``; when the
aggregate worker is below half the raw loop, a ``py-spy`` profile of it is summarised there too (install py-spy
into the venv for that).
"""
