"""What every example does after building its stream: run until Ctrl-C (or
``seconds``, when given), then stop gracefully so received data is processed."""
from __future__ import annotations


def run(ssc, seconds: float | None = None) -> None:
    ssc.start()
    try:
        if seconds is None:
            ssc.awaitTermination()
        else:
            ssc.awaitTerminationOrTimeout(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        ssc.stop(stopSparkContext=True, stopGraceFully=True)
