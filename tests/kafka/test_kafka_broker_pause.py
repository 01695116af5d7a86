"""A broker that stops answering mid-stream (SIGSTOP) stalls the stream, which
carries on when it answers again (SIGCONT), with nothing lost or read twice:
whether it stops while the driver plans a batch or while tasks read one."""
from __future__ import annotations

import signal
import threading

from fluvial.streaming import StreamingContext
from fluvial.streaming.kafka import KafkaUtils
from fluvial.testing import ManualClock

PAUSE_S = 1.5  # longer than one driver request attempt (1 s), so requests do time out and are retried


def resume_later(broker):
    timer = threading.Timer(PAUSE_S, lambda: broker.proc.send_signal(signal.SIGCONT))
    timer.start()
    return timer


def start_stream(sc, broker, topic, out):
    ssc = StreamingContext(sc, 1, clock=ManualClock())
    stream = KafkaUtils.createDirectStream(ssc, [topic], {"bootstrap.servers": broker.bootstrap,
                                                          "auto.offset.reset": "earliest"})
    stream.foreachRDD(out)
    ssc.start()
    return ssc


def test_broker_paused_while_the_driver_plans_a_batch_stalls_then_resumes(sc, broker):
    topic = broker.topic("pause-driver", partitions=2)
    broker.produce(topic, [(i % 2, None, str(i)) for i in range(6)])
    got: list[list] = []
    ssc = start_stream(sc, broker, topic, lambda rdd: got.append(sorted(v for _, v in rdd.collect())))
    try:
        ssc.clock.advance(1)
        with broker.paused():
            advancing = threading.Thread(target=ssc.clock.advance, args=(1,))
            advancing.start()
            advancing.join(PAUSE_S)
            assert advancing.is_alive()          # the batch cannot be planned: the stream stalls
        advancing.join(30)
        assert not advancing.is_alive()
        broker.produce(topic, [(0, None, "6"), (1, None, "7")])
        ssc.clock.advance(1)
        assert ssc.getState() == "ACTIVE"
        assert got == [["0", "1", "2", "3", "4", "5"], [], ["6", "7"]]
    finally:
        ssc.stop(stopSparkContext=False)


def test_broker_paused_while_tasks_read_a_batch_stalls_then_resumes(sc, broker):
    topic = broker.topic("pause-read", partitions=2)
    broker.produce(topic, [(i % 2, None, str(i)) for i in range(6)])
    got: list[list] = []
    timers = []

    def out(rdd):
        if len(got) == 1:                        # batch 2: planned; stop the broker before its tasks read
            broker.proc.send_signal(signal.SIGSTOP)
            timers.append(resume_later(broker))
        got.append(sorted(v for _, v in rdd.collect()))

    ssc = start_stream(sc, broker, topic, out)
    try:
        ssc.clock.advance(1)
        broker.produce(topic, [(i % 2, None, str(i)) for i in range(6, 10)])
        ssc.clock.advance(1)
        ssc.clock.advance(1)
        assert ssc.getState() == "ACTIVE"
        assert got == [["0", "1", "2", "3", "4", "5"], ["6", "7", "8", "9"], []]
        assert timers and not timers[0].is_alive()   # the read waited for the broker to come back
    finally:
        for t in timers:
            t.join()
        ssc.stop(stopSparkContext=False)
